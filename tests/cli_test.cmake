# Runs the safefs tool the way a user would: `safefs write PATH` from stdin.
# Invoked by ctest with -DSAFEFS_TOOL=... -DWORK_DIR=... [-DSAFEFS_EMULATOR=wine]
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(in "${WORK_DIR}/input.txt")
set(out "${WORK_DIR}/out.txt")
file(WRITE "${in}" "line one\nline two\n")
file(WRITE "${out}" "old\n")

function(run_tool expect_rc)
  execute_process(COMMAND ${SAFEFS_EMULATOR} "${SAFEFS_TOOL}" ${ARGN}
                  INPUT_FILE "${in}" RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "safefs ${ARGN}: exit ${rc}, expected ${expect_rc}\n${o}${e}")
  endif()
  set(last_err "${e}" PARENT_SCOPE)
endfunction()

run_tool(0 write "${out}")
file(READ "${out}" got)
if(NOT got STREQUAL "line one\nline two\n")
  message(FATAL_ERROR "write: target holds '${got}'")
endif()

# a name beyond ASCII (on Windows this needs the UTF-16 command line)
set(uni "${WORK_DIR}/café-日本.txt")
run_tool(0 write "${uni}")
if(NOT EXISTS "${uni}")
  message(FATAL_ERROR "write to a non-ASCII name did not create it")
endif()
file(READ "${uni}" got)
if(NOT got STREQUAL "line one\nline two\n")
  message(FATAL_ERROR "non-ASCII write: target holds '${got}'")
endif()

run_tool(1 write --noreplace "${out}")
if(NOT last_err MATCHES "file already exists")
  message(FATAL_ERROR "noreplace: message was '${last_err}'")
endif()

run_tool(1 write "${WORK_DIR}/missing/dir/out.txt")
if(NOT last_err MATCHES "SAFEFS_ENOENT")
  message(FATAL_ERROR "missing dir: message was '${last_err}'")
endif()
# the library's own sentence: the failing step and the path
if(NOT last_err MATCHES "safefs: [a-z ]+ '[^']*missing[^']*'.*: ")
  message(FATAL_ERROR "missing dir: no safefs_last_error_message in '${last_err}'")
endif()

# --mkdirs creates the folders on the way; without it the same write fails
run_tool(1 write "${WORK_DIR}/new/deeper/out.txt")
run_tool(0 write --mkdirs "${WORK_DIR}/new/deeper/out.txt")
if(NOT EXISTS "${WORK_DIR}/new/deeper/out.txt")
  message(FATAL_ERROR "--mkdirs: the file was not written")
endif()

# --private: a new file for its owner only (POSIX: mode 0600; Windows: an
# owner-only DACL, which test_replace_win32 checks)
run_tool(0 write --private "${WORK_DIR}/token")
file(READ "${WORK_DIR}/token" got)
if(NOT got STREQUAL "line one\nline two\n")
  message(FATAL_ERROR "--private: target holds '${got}'")
endif()
if(NOT (SAFEFS_EMULATOR OR WIN32))
  execute_process(COMMAND stat -c %a "${WORK_DIR}/token" OUTPUT_VARIABLE mode
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT mode STREQUAL "600")
    message(FATAL_ERROR "--private: mode ${mode}, expected 600")
  endif()
endif()

run_tool(2 write)
run_tool(2 frobnicate)

file(GLOB leftovers "${WORK_DIR}/.*safefs-*")
if(leftovers)
  message(FATAL_ERROR "temp files left: ${leftovers}")
endif()
message(STATUS "cli: 10 passed, 0 failed")
