#!/bin/bash
# The durable single node's figures of BENCHMARKS.md: doozer-bench against a fresh local doozerd,
# memory-only and with -data, and Redis with appendfsync always on the same disk, interleaved,
# REPEAT times; then GET readers alone and beside 64 SET connections. JSON lines and Redis CSV
# go to $OUT. Run from Benchmarks/; summarize with scripts/summarize-durable.py $OUT.
#   DATA     the parent of the durable node's data folder (on the disk to measure) [/tmp]
#   BEFORE   another doozerd binary to run durable too (an earlier build), reported apart
# Before every run it waits until the machine's CPUs are at least 90% idle over 2 s: another
# build or test run on a 2-core machine skews the figures more than anything measured here.
set -eu
REPEAT=${REPEAT:-3}
OUT=${OUT:-/tmp/doozer-bench-durable}
B=${B:-.build-bench/release/doozer-bench}
DOOZERD=${DOOZERD:-../.build/release/doozerd}
BEFORE=${BEFORE:-}
DATA=${DATA:-/tmp}
D=${D:-5}
REDIS_PORT=${REDIS_PORT:-16380}
mkdir -p "$OUT"

wait_quiet() {
  local a b busy
  while :; do
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat); sleep 2
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    busy=$(echo "$a $b" | awk '{bu=$3-$1; id=$4-$2; print int(100*bu/(bu+id))}')
    [ "$busy" -le 10 ] && return 0
  done
}
bench() { local name=$1; shift; wait_quiet; $B local -q -d "$D" "$@" | tail -n 1 >>"$OUT/$name.jsonl"; }
redis_always() {
  local c=$1 n=$2 round=$3 dir pid
  wait_quiet
  dir=$(mktemp -d "$DATA/redis-aof-XXXXXX")
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
    --dir "$dir" --daemonize no >"$OUT/redis.log" 2>&1 &
  pid=$!
  sleep 0.5
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -d 64 -r 1000 -c "$c" -P 1 -t set -n "$n" --csv \
    | grep SET | sed "s/^/$round,c$c,/" >>"$OUT/redis.csv"
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
}

for i in $(seq "$REPEAT"); do
  echo "round $i" >&2
  for c in 64 1; do
    bench "memory-c$c" -doozerd "$DOOZERD" -op set -c "$c" -label "run$i"
    bench "durable-c$c" -doozerd "$DOOZERD" -op set -c "$c" -data "$DATA" -label "run$i"
    [ -n "$BEFORE" ] && bench "before-c$c" -doozerd "$BEFORE" -op set -c "$c" -data "$DATA" -label "run$i"
    redis_always "$c" $([ "$c" = 1 ] && echo 25000 || echo 300000) "run$i"
  done
  # Reads while writes wait for their sync: 16 GET connections alone, then beside 64 SET ones.
  bench readers-alone -doozerd "$DOOZERD" -op get -c 16 -data "$DATA" -label "run$i"
  bench readers-durable -doozerd "$DOOZERD" -op set -c 64 -readers 16 -data "$DATA" -label "run$i"
  bench readers-memory -doozerd "$DOOZERD" -op set -c 64 -readers 16 -label "run$i"
done
