#!/usr/bin/env bash
# A 3-member etcd (Debian's etcd-server 3.4) on 127.0.0.1-3, data on tmpfs (/dev/shm) and then
# on disk (/var/tmp, ext4), loaded with puts of 64 B values through etcd's official v3 Go client
# (clientv3 from Debian's golang-etcd-server-dev; etcdput.go beside this script) at 64 clients
# and at 1 client. One JSON line per run on stdout (and appended to $OUT). Stops what it starts.
#
#   apt-get install -y etcd-server etcd-client golang-go golang-etcd-server-dev
#   Benchmarks/etcd/run.sh                 # runs itself in a network namespace of its own
#   DURATION=10 MODES="tmpfs disk" CLIENTS="64 1" Benchmarks/etcd/run.sh
#   TLS=DIR Benchmarks/etcd/run.sh         # client URLs over TLS with DIR/node.pem, DIR/node.key
#                                          # (Benchmarks/scripts/tls-pair DIR); peers stay plain
set -euo pipefail

if [[ -z "${ETCD_BENCH_NETNS:-}" ]]; then
    # Loopback only, nothing else in it: no clash with anything on 127.0.0.x:2379/2380.
    exec unshare -n env ETCD_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up

HERE=$(cd "$(dirname "$0")" && pwd)
DURATION=${DURATION:-10}
MODES=${MODES:-"tmpfs disk"}
CLIENTS=${CLIENTS:-"64 1"}
OUT=${OUT:-/tmp/doozer-bench-results/etcd.jsonl}
BIN=${BIN:-/tmp/doozer-etcd-bench}
mkdir -p "$BIN" "$(dirname "$OUT")"

# Build the client against Debian's Go sources (GOPATH mode: no module download).
if [[ ! -x "$BIN/etcdput" || "$HERE/etcdput.go" -nt "$BIN/etcdput" ]]; then
    echo "etcd-bench: building etcdput" >&2
    (cd "$HERE" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$BIN/cache" go build -o "$BIN/etcdput" etcdput.go)
fi

PIDS=()
DATA=""
stop_all() {
    for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null || true; done
    PIDS=()
    [[ -n "$DATA" ]] && rm -rf "$DATA"
    DATA=""
}
trap stop_all EXIT INT TERM

TLS=${TLS:-}
SCHEME=http
TLS_SERVER=()
TLS_CLIENT=()
if [[ -n "$TLS" ]]; then
    SCHEME=https
    TLS_SERVER=(--cert-file "$TLS/node.pem" --key-file "$TLS/node.key")
    TLS_CLIENT=(--cacert "$TLS/ca.pem")
fi

start_cluster() {   # $1: parent directory of the data dirs
    DATA=$(mktemp -d "$1/etcd-bench.XXXXXX")
    local cluster="n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380"
    for i in 1 2 3; do
        etcd --name "n$i" --data-dir "$DATA/n$i" "${TLS_SERVER[@]}" \
            --listen-client-urls "$SCHEME://127.0.0.$i:2379" --advertise-client-urls "$SCHEME://127.0.0.$i:2379" \
            --listen-peer-urls "http://127.0.0.$i:2380" --initial-advertise-peer-urls "http://127.0.0.$i:2380" \
            --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token bench \
            --logger zap --log-level error >"$DATA/n$i.log" 2>&1 &
        PIDS+=($!)
    done
    for _ in $(seq 100); do
        if ETCDCTL_API=3 etcdctl "${TLS_CLIENT[@]}" --endpoints=$SCHEME://127.0.0.1:2379,$SCHEME://127.0.0.2:2379,$SCHEME://127.0.0.3:2379 endpoint health >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "etcd-bench: cluster not healthy; logs in $DATA" >&2
    exit 1
}

ENDPOINTS=$SCHEME://127.0.0.1:2379,$SCHEME://127.0.0.2:2379,$SCHEME://127.0.0.3:2379
for mode in $MODES; do
    case $mode in
        tmpfs) parent=/dev/shm ;;
        disk) parent=/var/tmp ;;
        *) echo "etcd-bench: unknown mode $mode" >&2; exit 2 ;;
    esac
    for c in $CLIENTS; do
        start_cluster "$parent"
        echo "etcd-bench: $mode, $c clients, ${DURATION}s" >&2
        "$BIN/etcdput" -endpoints "$ENDPOINTS" ${TLS:+-cacert "$TLS/ca.pem"} -c "$c" -size 64 -d "${DURATION}s" \
            -label "etcd $(etcd --version | head -1 | awk '{print $3}') $mode${TLS:+ tls}" | tee -a "$OUT"
        stop_all
    done
done
