# Two writers add 20 entries each to one lockfile while three readers keep
# cached copies; every reader must end with all 40 entries, never having
# used a torn or stale copy.
include(${CMAKE_CURRENT_LIST_DIR}/run_together.cmake)
run_together(120 "writer tools.lock 0 20" "writer tools.lock 1 20"
             "reader tools.lock 0 2 40" "reader tools.lock 1 2 40" "reader tools.lock 2 2 40")
expect_outcome("lockfile_cache")
