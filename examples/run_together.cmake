# Shared by the examples' tests (cmake -P scripts), which ctest runs with
#   -DEXAMPLE=<program> -DWORK_DIR=<dir> -DMODE=safe|unsafe
#   [-DSAFEFS_EMULATOR=<wine>]
# MODE=unsafe passes --unsafe to every process: the fix is left out, and
# the test passes only if the race is caught.

if(NOT EXAMPLE OR NOT WORK_DIR OR NOT MODE MATCHES "^(safe|unsafe)$")
  message(FATAL_ERROR "run with -DEXAMPLE=... -DWORK_DIR=... -DMODE=safe|unsafe")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(UNSAFE_FLAG "")
if(MODE STREQUAL "unsafe")
  set(UNSAFE_FLAG "--unsafe")
endif()

# run_together(<timeout s> "<arguments of process 1>" "<process 2>" ...)
# Starts all the processes at once (an execute_process pipeline: they
# print to stderr only, so no pipe fills up) in WORK_DIR, waits for all,
# and sets RCS (their exit codes; one "Process terminated due to timeout"
# string if the timeout killed them) and LOG (their stderr, shown).
function(run_together timeout)
  set(commands "")
  foreach(process IN LISTS ARGN)
    separate_arguments(process_args UNIX_COMMAND "${process}")
    list(APPEND commands COMMAND ${SAFEFS_EMULATOR} "${EXAMPLE}" ${process_args} ${UNSAFE_FLAG})
  endforeach()
  string(TIMESTAMP t0 "%s")
  execute_process(${commands} WORKING_DIRECTORY "${WORK_DIR}" TIMEOUT ${timeout}
                  RESULTS_VARIABLE rcs ERROR_VARIABLE log OUTPUT_VARIABLE out)
  string(TIMESTAMP t1 "%s")
  math(EXPR took "${t1} - ${t0}")
  message(STATUS "${MODE}: exit codes [${rcs}] after ${took} s\n${log}${out}")
  set(RCS "${rcs}" PARENT_SCOPE)
  set(LOG "${log}" PARENT_SCOPE)
endfunction()

# Safe mode: every process must exit 0 (no race seen). Unsafe mode: at
# least one must exit 1 (it saw the race) and none may fail otherwise.
function(expect_outcome what)
  set(caught 0)
  set(broken 0)
  foreach(rc IN LISTS RCS)
    if(rc STREQUAL "1")
      set(caught 1)
    elseif(NOT rc STREQUAL "0")
      set(broken 1)
    endif()
  endforeach()
  if(MODE STREQUAL "safe" AND (caught OR broken))
    message(FATAL_ERROR "${what}: a process saw the race or failed (exit codes ${RCS})")
  elseif(MODE STREQUAL "unsafe" AND (broken OR NOT caught))
    message(FATAL_ERROR "${what}: the race was not caught without the fix (exit codes ${RCS})")
  endif()
  message(STATUS "${what}: ${MODE} outcome as expected")
endfunction()

# A set-up or checking step: run_together without --unsafe, in either mode.
function(run_plain timeout)
  set(UNSAFE_FLAG "")
  run_together(${timeout} ${ARGN})
  set(RCS "${RCS}" PARENT_SCOPE)
  set(LOG "${LOG}" PARENT_SCOPE)
endfunction()

# For set-up steps, in either mode: every process must exit 0.
function(expect_success what)
  foreach(rc IN LISTS RCS)
    if(NOT rc STREQUAL "0")
      message(FATAL_ERROR "${what} failed (exit codes ${RCS})")
    endif()
  endforeach()
endfunction()
