#!/bin/sh
# Two doozerd builds side by side: the single-node workloads of BENCHMARKS.md against OLD, then
# NEW, interleaved REPEAT times so load drifts hit both alike. JSON lines go to
# $OUT/<label>-<workload>.jsonl. Run from Benchmarks/:
#   scripts/compare.sh path/to/old/doozerd ../.build/release/doozerd
set -eu
[ $# -eq 2 ] || { echo "usage: scripts/compare.sh OLD_DOOZERD NEW_DOOZERD" >&2; exit 2; }
REPEAT=${REPEAT:-3}
OUT=${OUT:-/tmp/doozer-compare}
B=${B:-.build-bench/release/doozer-bench}
D=${D:-5}
mkdir -p "$OUT"
for i in $(seq "$REPEAT"); do
  for side in old new; do
    if [ "$side" = old ]; then bin=$1; else bin=$2; fi
    echo "run $i $side  load $(cut -d' ' -f1 /proc/loadavg)" >&2
    run() { name=$1; shift; $B local -q -doozerd "$bin" "$@" -d "$D" -label "run$i" | tail -n 1 >>"$OUT/$side-$name.jsonl"; }
    run get-c64-p1  -op get -c 64 -p 1
    run set-c64-p1  -op set -c 64 -p 1
    run get-c64-p16 -op get -c 64 -p 16
    run watch-wp64  -op watch -watchers 100 -writers 1 -rate 10000 -wp 64
  done
done
