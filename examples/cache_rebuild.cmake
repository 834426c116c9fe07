# Two rebuilds (5 each) and three workers at once, after a first build.
# FAIRNESS=1: the workers take the shared lock back to back (no pause) and
# each rebuild process must finish within BOUND_MS; otherwise they pause
# 5 ms between walks and the bound is generous: the test is that no worker
# ever finds half a cache.
include(${CMAKE_CURRENT_LIST_DIR}/run_together.cmake)
if(FAIRNESS)
  set(pause 0)
  set(bound 20000)
else()
  set(pause 5)
  set(bound 100000)
endif()
run_plain(60 "rebuild 9 1 30000")
expect_success("first build")
run_together(240 "rebuild 0 5 ${bound}" "rebuild 1 5 ${bound}"
             "work 0 2 ${pause}" "work 1 2 ${pause}" "work 2 2 ${pause}")
expect_outcome("cache_rebuild")
