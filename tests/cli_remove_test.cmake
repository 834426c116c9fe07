# Runs `safefs rm` and `safefs sweep` the way a user would.
# Invoked by ctest with -DSAFEFS_TOOL=... -DWORK_DIR=... [-DSAFEFS_EMULATOR=wine]
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(W "${WORK_DIR}")
set(checks 0)

function(run_tool expect_rc)
  execute_process(COMMAND ${SAFEFS_EMULATOR} "${SAFEFS_TOOL}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "safefs ${ARGN}: exit ${rc}, expected ${expect_rc}\n${o}${e}")
  endif()
  set(last_err "${e}" PARENT_SCOPE)
  math(EXPR n "${checks} + 1")
  set(checks ${n} PARENT_SCOPE)
endfunction()

function(expect_exists path yes)
  if(yes AND NOT EXISTS "${path}")
    message(FATAL_ERROR "${path} should exist")
  elseif(NOT yes AND EXISTS "${path}")
    message(FATAL_ERROR "${path} should be gone")
  endif()
endfunction()

file(WRITE "${W}/a.txt" "a")
file(WRITE "${W}/b.txt" "b")
file(WRITE "${W}/tree/sub/deeper/f.txt" "f")
file(WRITE "${W}/tree/g.txt" "g")
file(WRITE "${W}/tree2/h.txt" "h")

# one file
run_tool(0 rm "${W}/a.txt")
expect_exists("${W}/a.txt" NO)

# a directory without -r: refused, untouched
run_tool(1 rm "${W}/tree")
if(NOT last_err MATCHES "SAFEFS_EISDIR")
  message(FATAL_ERROR "rm dir: message was '${last_err}'")
endif()
expect_exists("${W}/tree/sub/deeper/f.txt" YES)

# -r with a tree, a file and a missing path: the two go, one message, exit 1
run_tool(1 rm -r "${W}/tree" "${W}/missing" "${W}/b.txt")
if(NOT last_err MATCHES "missing: no such file or directory \\(SAFEFS_ENOENT")
  message(FATAL_ERROR "rm missing: message was '${last_err}'")
endif()
if(last_err MATCHES "tree|b\\.txt")
  message(FATAL_ERROR "rm -r: unexpected messages '${last_err}'")
endif()
expect_exists("${W}/tree" NO)
expect_exists("${W}/b.txt" NO)

run_tool(0 rm -r --timeout 100 "${W}/tree2")
expect_exists("${W}/tree2" NO)

# usage errors
run_tool(2 rm)
run_tool(2 rm -r)
run_tool(2 rm --timeout)
run_tool(2 rm --timeout soon "${W}/x")
run_tool(2 rm --bogus "${W}/x")

# sweep: only safefs's own names, only when old enough
file(WRITE "${W}/.data.safefs-0123456789abcdef.tmp" "own")
file(WRITE "${W}/.data.safefs-0123456789abcdef.trash/inner/x" "own tree")
file(WRITE "${W}/.data.safefs-0123456789ABCDEF.tmp" "look-alike")
file(WRITE "${W}/data" "data")
run_tool(0 sweep "${W}") # default age: one hour, nothing is that old
expect_exists("${W}/.data.safefs-0123456789abcdef.tmp" YES)
run_tool(0 sweep --min-age 0 "${W}")
expect_exists("${W}/.data.safefs-0123456789abcdef.tmp" NO)
expect_exists("${W}/.data.safefs-0123456789abcdef.trash" NO)
expect_exists("${W}/.data.safefs-0123456789ABCDEF.tmp" YES)
expect_exists("${W}/data" YES)

run_tool(1 sweep --min-age 0 "${W}/missing")
if(NOT last_err MATCHES "SAFEFS_ENOENT")
  message(FATAL_ERROR "sweep missing: message was '${last_err}'")
endif()
run_tool(2 sweep)
run_tool(2 sweep "${W}" "${W}")
run_tool(2 sweep --min-age -5 "${W}")

file(GLOB left RELATIVE "${W}" "${W}/*" "${W}/.*")
list(SORT left)
if(NOT left STREQUAL ".data.safefs-0123456789ABCDEF.tmp;data")
  message(FATAL_ERROR "left in the work dir: ${left}")
endif()
message(STATUS "cli rm/sweep: ${checks} runs passed")
