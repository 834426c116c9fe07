#!/bin/sh
# Every benchmark on each directory given, as BENCHMARKS.md was made, then
# the system calls per operation (strace -c, counts divided by the number
# of operations; the uncounted start-up calls of the process round away).
#
#   bench/run_all.sh BIN DIR...     (BIN: the build's bin/, e.g. build/bench/bin)
set -e
bin=$1
shift
calls() { # program variant dir n
  strace -c -o "$3/strace.txt" "$bin/$1" --calls "$2" "$3" "$4" >/dev/null
  printf '%-14s' "$2"
  awk -v n="$4" '$1 ~ /^[0-9.]+$/ && $NF != "total" && $4 >= n * 0.9 {
      printf " %s %.0f", $NF, $4 / n; sum += $4 / n }
    END { printf "  = %.0f calls\n", sum }' "$3/strace.txt"
  rm -f "$3/strace.txt"
}
for dir in "$@"; do
  mkdir -p "$dir"
  echo "#### $dir: $(df -hT "$dir" | awk 'NR == 2 { print $2, $1 }')"
  "$bin/bench_write" "$dir" 300
  "$bin/bench_stream" "$dir" 5
  "$bin/bench_lock" "$dir" 200
  "$bin/bench_remove" "$dir" 10
  "$bin/bench_threads" "$dir" 15 100
  if [ -x "$bin/bench_batch" ]; then "$bin/bench_batch" "$dir" 20 10; fi # Linux only
  if command -v strace >/dev/null; then
    echo "system calls per operation (the remove variants include creating the file: openat 1 close 1)"
    for v in flock-ex safefs-ex flock-sh safefs-sh; do calls bench_lock $v "$dir" 1000; done
    for v in unlink safefs-remove; do calls bench_remove $v "$dir" 1000; done
    if [ -x "$bin/bench_batch" ]; then
      echo "system calls per file of a batch of 64 (they include making the files, openat 1 write 1 close 1 rename 1, and removing them, unlink 1)"
      for v in safefs-batch safefs-separate sfr-fsync; do calls bench_batch $v "$dir" 64; done
    fi
  fi
done
