# Three installers link the same 32 blobs into their packages while a
# verifier deletes damaged blobs (init damages 8): no link may fail and no
# package may get a file that is not whole.
include(${CMAKE_CURRENT_LIST_DIR}/run_together.cmake)
run_plain(60 "init")
expect_success("cas_store init")
run_together(120 "install 0" "install 1" "install 2" "verify 3")
expect_outcome("cas_store")
