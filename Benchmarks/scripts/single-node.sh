#!/bin/sh
# Every single-node figure of BENCHMARKS.md: doozer-bench against a fresh local doozerd, and
# Redis (the ceiling for a single-threaded epoll server) at the same concurrency and pipeline,
# interleaved, REPEAT times. JSON lines go to $OUT/*.jsonl. Run from Benchmarks/.
set -eu
REPEAT=${REPEAT:-3}
OUT=${OUT:-/tmp/doozer-bench-results}
B=${B:-.build-bench/release/doozer-bench}
D=${D:-5}
mkdir -p "$OUT"
REDIS_PORT=${REDIS_PORT:-16379}
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill $REDIS_PID 2>/dev/null || true' EXIT
sleep 0.5
rb() { redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -d 64 -r 1000 --csv "$@"; }
for i in $(seq "$REPEAT"); do
  echo "run $i  load $(cut -d' ' -f1 /proc/loadavg)" >&2
  rb -c 64 -P 1  -t get,set -n 300000  | sed "s/^/run$i,P1,/" >>"$OUT/redis.csv"
  rb -c 64 -P 16 -t get     -n 3000000 | sed "s/^/run$i,P16,/" >>"$OUT/redis.csv"
  $B local -q -op get -c 64 -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/get-c64-p1.jsonl"
  $B local -q -op set -c 64 -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/set-c64-p1.jsonl"
  $B local -q -op get -c 64 -p 16 -d "$D" -label "run$i" | tail -n 1 >>"$OUT/get-c64-p16.jsonl"
  $B local -q -op watch -watchers 100 -writers 1 -rate 10000 -d "$D" -label "run$i"       | tail -n 1 >>"$OUT/watch-100-wp1.jsonl"
  $B local -q -op watch -watchers 100 -writers 1 -rate 10000 -d "$D" -wp 16 -label "run$i" | tail -n 1 >>"$OUT/watch-100-wp16.jsonl"
  $B local -q -op watch -watchers 100 -writers 1 -rate 10000 -d "$D" -wp 64 -label "run$i" | tail -n 1 >>"$OUT/watch-100-wp64.jsonl"
done
$B memory -q -files 1000000 -size 64 -c 16 -p 16 -idle 10000 | tail -n 1 >>"$OUT/memory.jsonl"
