# `safefs lock` the way a user runs it. Nested runs prove the lock is held
# while COMMAND runs and not passed to it: the inner safefs is COMMAND's
# child and must find the lock taken.
# Invoked by ctest with -DSAFEFS_TOOL=... -DWORK_DIR=... [-DSAFEFS_EMULATOR=wine]
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(lock "${WORK_DIR}/data.json.lock")
set(tool "${SAFEFS_TOOL}")
if(SAFEFS_EMULATOR)
  # COMMAND is started by safefs.exe itself, so it needs a Windows path.
  execute_process(COMMAND ${SAFEFS_EMULATOR} winepath -w "${SAFEFS_TOOL}"
                  OUTPUT_VARIABLE tool OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
set(passed 0)

function(run_lock expect_rc)
  execute_process(COMMAND ${SAFEFS_EMULATOR} "${SAFEFS_TOOL}" lock ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "safefs lock ${ARGN}: exit ${rc}, expected ${expect_rc}\n${o}${e}")
  endif()
  set(last_out "${o}" PARENT_SCOPE)
  set(last_err "${e}" PARENT_SCOPE)
  math(EXPR n "${passed} + 1")
  set(passed ${n} PARENT_SCOPE)
endfunction()

function(expect what text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "${what}: '${text}' does not match '${pattern}'")
  endif()
endfunction()

# COMMAND runs and its exit status comes back
run_lock(0 "${lock}" -- "${tool}" version)
expect("output" "${last_out}" "^safefs [0-9]")
run_lock(2 "${lock}" -- "${tool}" frobnicate)
file(READ "${lock}" mark)
expect("mark after release" "${mark}" "^0$")

# held while COMMAND runs: a nested exclusive try fails, a shared one too
run_lock(1 "${lock}" -- "${tool}" lock --timeout 0 "${lock}" -- "${tool}" version)
expect("nested try" "${last_err}" "SAFEFS_ETIMEDOUT")
run_lock(1 "${lock}" -- "${tool}" lock --shared --timeout 200 "${lock}" -- "${tool}" version)
expect("nested timed" "${last_err}" "lock not acquired in time")
# shared holders coexist
run_lock(0 --shared "${lock}" -- "${tool}" lock --shared --timeout 0 "${lock}" -- "${tool}" version)
expect("nested shared" "${last_out}" "^safefs [0-9]")
# and it is free again afterwards
run_lock(0 --timeout 0 "${lock}" -- "${tool}" version)

# a name outside ASCII (UTF-8 argv on every platform)
set(wide_name "${WORK_DIR}/verrou-été-日.lock")
run_lock(0 "${wide_name}" -- "${tool}" version)
if(NOT EXISTS "${wide_name}")
  message(FATAL_ERROR "lock file ${wide_name} was not created under its own name")
endif()

# failures
run_lock(127 "${lock}" -- safefs-no-such-command-here)
run_lock(1 "${WORK_DIR}" -- "${tool}" version)
expect("directory" "${last_err}" "SAFEFS_EISDIR")
run_lock(1 "${WORK_DIR}/missing/x.lock" -- "${tool}" version)
expect("missing dir" "${last_err}" "SAFEFS_ENOENT")
run_lock(2 "${lock}")
run_lock(2 "${lock}" --)
run_lock(2 --timeout -5 "${lock}" -- "${tool}" version)
run_lock(2 --timeout soon "${lock}" -- "${tool}" version)
run_lock(2 --exclusive "${lock}" -- "${tool}" version)

message(STATUS "cli lock: ${passed} passed, 0 failed")
