# `safefs lock LOCKFILE -- COMMAND ARGS...` must start COMMAND with exactly
# ARGS. On Windows safefs quotes them into one command line for
# CreateProcessW (tools/cmdline/cmdline.c) and COMMAND's C runtime splits it
# again; on POSIX execvp passes them as they are. COMMAND is argv_echo
# (tests/argv_echo.c), which prints each argument it got hex-encoded, so
# the comparison is byte for byte. It lives in a directory with spaces in
# its name, so its own path (argv[0]) needs quoting too.
#
# argv_echo is first run alone, as a control: under Wine the launcher
# builds a command line of its own from the Unix argv, and a difference
# there would not be safefs's.
#
# The Windows side has been run under Wine 8.0 only (Wine's msvcrt splits
# the child's command line, Wine's CommandLineToArgvW safefs's own), not
# on Windows itself.
# Invoked by ctest with -DSAFEFS_TOOL=... -DSAFEFS_ARGV_ECHO=... -DWORK_DIR=...
# [-DSAFEFS_EMULATOR=wine]
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/dir with spaces")
file(COPY "${SAFEFS_ARGV_ECHO}" DESTINATION "${WORK_DIR}/dir with spaces")
get_filename_component(echo_name "${SAFEFS_ARGV_ECHO}" NAME)
set(echo "${WORK_DIR}/dir with spaces/${echo_name}")
set(echo_arg "${echo}") # how safefs is told to start it
if(SAFEFS_EMULATOR)
  # COMMAND is started by safefs.exe itself, so it needs a Windows path.
  execute_process(COMMAND ${SAFEFS_EMULATOR} winepath -w "${echo}"
                  OUTPUT_VARIABLE echo_arg OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()

# The arguments, one variable each: a CMake list would drop the empty ones
# and read `trail\` followed by the separator as an escaped `;`.
set(n 0)
function(arg value)
  set(arg${n} "${value}" PARENT_SCOPE)
  math(EXPR next "${n} + 1")
  set(n ${next} PARENT_SCOPE)
endfunction()

# the ten of issue 9, which the old quoting turned into three wrong ones
arg("")
arg("''")
arg([[a\"b]])
arg([[c\\\\"d]])
arg([[trail\]])
arg("two words")
arg("tab\there")
arg("été 日本 😀")
arg([[\\\\\"]])
arg([[two words\\]])
# and more
arg([["]])
arg([[""]])
arg([["quoted"]])
arg([[\]])
arg([[\\]])
arg(" ")
arg("\t")
arg("line\nbreak")
string(ASCII 11 vt)
arg("vertical${vt}tab")
arg([[\\\\\\"x y]])
arg([[a\\b c\d]])
arg([[\"\"\\""]])
arg("a;b")
arg("𐍈\\")
arg("--")
arg("--timeout")
arg("%PATH%")
arg("^&|<>()")
string(REPEAT [[\\\"x y\ ]] 300 long)
arg("${long}\\\\\\")

math(EXPR last "${n} - 1")
set(want "")
foreach(i RANGE ${last})
  string(HEX "${arg${i}}" hex)
  math(EXPR k "${i} + 1")
  string(APPEND want "${k} ${hex}\n")
endforeach()

# Run ARGN (plain words) followed by every argument; sets `argv0` (the
# first line argv_echo printed) and `rest` (the others).
function(run_with_args what)
  set(code "execute_process(COMMAND")
  foreach(word IN LISTS ARGN)
    string(APPEND code " [==[${word}]==]")
  endforeach()
  foreach(i RANGE ${last})
    string(APPEND code " [==[${arg${i}}]==]")
  endforeach()
  string(APPEND code " RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)")
  cmake_language(EVAL CODE "${code}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what}: exit ${rc}\n${out}${err}")
  endif()
  string(FIND "${out}" "\n" nl)
  string(SUBSTRING "${out}" 0 ${nl} first)
  math(EXPR nl "${nl} + 1")
  string(SUBSTRING "${out}" ${nl} -1 others)
  if(NOT others STREQUAL want)
    message(FATAL_ERROR "${what}: the arguments came out as\n${others}instead of\n${want}")
  endif()
  set(argv0 "${first}" PARENT_SCOPE)
endfunction()

run_with_args("argv_echo alone (control)" ${SAFEFS_EMULATOR} "${echo}")
run_with_args("safefs lock -- argv_echo" ${SAFEFS_EMULATOR} "${SAFEFS_TOOL}" lock
              "${WORK_DIR}/argv.lock" -- "${echo_arg}")
string(HEX "${echo_arg}" hex)
if(NOT argv0 STREQUAL "0 ${hex}")
  message(FATAL_ERROR "argv_echo's argv[0] came out as '${argv0}', not '0 ${hex}' (${echo_arg})")
endif()

message(STATUS "cli argv: ${n} arguments and argv[0] given to COMMAND byte for byte")
