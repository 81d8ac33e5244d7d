#!/usr/bin/env bash
# Every cluster figure of BENCHMARKS.md: doozer-bench cluster/catchup (3 members + 1 slave on
# 127.0.0.1-4), the single-node GETs for comparison, and a 3-member etcd (etcd/run.sh, tmpfs
# and disk) at the same concurrency, interleaved, REPEAT times; the same cluster durable (-data
# on $DATA's disk). Runs itself in a network namespace of its own (loopback only), so UDP
# counters are exact and no port can clash.
# JSON lines go to $OUT/cluster-*.jsonl and $OUT/etcd.jsonl. Run from Benchmarks/.
set -euo pipefail
if [[ -z "${CLUSTER_BENCH_NETNS:-}" ]]; then
    exec unshare -n env CLUSTER_BENCH_NETNS=1 ETCD_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
REPEAT=${REPEAT:-3}
OUT=${OUT:-/tmp/doozer-bench-results}
B=${B:-.build-bench/release/doozer-bench}
D=${D:-5}
ETCD=${ETCD:-1}
DATA=${DATA:-/var/tmp}   # the durable runs' disk
mkdir -p "$OUT"
for i in $(seq "$REPEAT"); do
  echo "run $i  load $(cut -d' ' -f1 /proc/loadavg)" >&2
  if [[ "$ETCD" == 1 ]]; then
    DURATION=$D OUT="$OUT/etcd.jsonl" etcd/run.sh >/dev/null
  fi
  $B cluster -q -op set -c 64 -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-set-c64.jsonl"
  $B cluster -q -op set -c 1  -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-set-c1.jsonl"
  $B cluster -q -op set -c 1  -p 1  -d "$D" -first 1 -label "run$i" | tail -n 1 >>"$OUT/cluster-set-c1-follower.jsonl"
  $B cluster -q -op set -c 64 -p 16 -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-set-c64-p16.jsonl"
  $B local   -q -op set -c 64 -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-local-set-c64.jsonl"
  $B cluster -q -op set -c 16 -p 1  -d "$D" -size 1000000 -label "run$i" | tail -n 1 >>"$OUT/cluster-set-1mb.jsonl"
  # Every node durable (-data, a folder each under $DATA, removed after).
  $B cluster -q -op set -c 64 -p 1  -d "$D" -data "$DATA" -label "run$i" | tail -n 1 >>"$OUT/cluster-durable-set-c64.jsonl"
  $B cluster -q -op set -c 1  -p 1  -d "$D" -data "$DATA" -label "run$i" | tail -n 1 >>"$OUT/cluster-durable-set-c1.jsonl"
  $B cluster -q -op get -c 64 -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-get-c64-p1.jsonl"
  $B cluster -q -op get -c 64 -p 16 -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-get-c64-p16.jsonl"
  $B local   -q -op get -c 64 -p 1  -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-local-get-c64-p1.jsonl"
  $B local   -q -op get -c 64 -p 16 -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-local-get-c64-p16.jsonl"
  # The slave's lag: 4 writers on the members at 10 k writes/s, 1 watcher on the slave.
  $B cluster -q -op watch -watchers 1 -writers 4 -rate 10000 -wp 64 -d "$D" -label "run$i" | tail -n 1 >>"$OUT/cluster-slave-lag.jsonl"
  $B catchup -q -files 50000 -size 64 -c 64 -p 16 -label "run$i" | tail -n 1 >>"$OUT/cluster-catchup.jsonl"
done
