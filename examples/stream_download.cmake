# Version 1 (32 MiB) is streamed into new nested folders. Then, while a
# watcher reads the target over and over: version 2 (48 MiB) is cancelled
# after 8 MiB, and version 3 (64 MiB) stops after 16 MiB and is killed by
# the timeout. The target must stay version 1, whole; the cancel must leave
# nothing; safefs_sweep must remove what the killed process left.
include(${CMAKE_CURRENT_LIST_DIR}/run_together.cmake)
set(dir "downloads/cache/tools")
set(target "${dir}/tool.bin")
set(races "")

# What safefs (or a crash) left beside the target: hidden names.
function(leftovers out)
  file(GLOB found RELATIVE "${WORK_DIR}/${dir}" "${WORK_DIR}/${dir}/.*")
  list(LENGTH found n)
  message(STATUS "leftovers in ${dir}: ${n} ${found}")
  set(${out} ${n} PARENT_SCOPE)
endfunction()

function(check_target step)
  run_plain(60 "check ${target} 1")
  if(NOT RCS STREQUAL "0")
    set(races "${races};${step}: target is no longer version 1" PARENT_SCOPE)
  endif()
endfunction()

run_plain(120 "get ${target} 1 32")
expect_success("version 1 into new folders")

# cancelled
run_together(120 "get ${target} 2 48 --abort-at 8" "watch ${target} 2")
check_target("cancel")
if(LOG MATCHES "RACE")
  list(APPEND races "cancel: the watcher saw a torn or missing file")
endif()
leftovers(n)
if(NOT n EQUAL 0)
  message(FATAL_ERROR "the cancelled writer left ${n} files")
endif()

# killed (the timeout kills both; the watcher has reported by then)
run_together(5 "get ${target} 3 64 --hang-at 16" "watch ${target} 3")
if(NOT LOG MATCHES "watch: ")
  message(FATAL_ERROR "the watcher did not report before the kill")
elseif(LOG MATCHES "RACE")
  list(APPEND races "kill: the watcher saw a torn or missing file")
endif()
check_target("kill")
leftovers(n)
# nothing on Linux (nameless temp) and Windows (delete-on-close), else the temp
if(MODE STREQUAL "safe" AND n GREATER 1)
  message(FATAL_ERROR "the killed writer should have left at most its temporary file")
endif()
run_plain(60 "sweep ${dir}")
expect_success("sweep")
leftovers(n)
if(NOT n EQUAL 0)
  message(FATAL_ERROR "safefs_sweep left ${n} files")
endif()
check_target("sweep")

if(MODE STREQUAL "safe" AND races)
  message(FATAL_ERROR "stream_download:${races}")
elseif(MODE STREQUAL "unsafe" AND NOT races)
  message(FATAL_ERROR "stream_download: the race was not caught without the fix")
endif()
string(REPLACE ";" "\n  " races "${races}")
message(STATUS "stream_download: ${MODE} outcome as expected${races}")
