#!/usr/bin/env python3
"""Medians and ranges of scripts/cluster.sh results (Markdown rows)."""
import json, statistics, sys, os
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/doozer-bench-results"
def load(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []
def mr(xs, fmt="{:,.0f}"):
    xs = sorted(xs)
    if not xs: return "–"
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(xs[0])}–{fmt.format(xs[-1])})"
def streamed(j):
    """Messages sent on peer streams (too large for a datagram), summed over the nodes, per instance."""
    nodes = [v for k, v in j["nodes"].items() if k != "all_nodes"]
    instances = max(1, j.get("peer_traffic_whole_life", {}).get("instances_decided", 1))
    return sum(v.get("messages_streamed", 0) for v in nodes) / instances

def median_run(rs, key):
    rs = sorted(rs, key=key); return rs[len(rs) // 2]

print("| workload | ops/s median (range) | p50 / p99 µs (median run) | errors | server CPU % (all nodes) | bench CPU % | runs |")
print("|---|---|---|---|---|---|---|")
for name, label in [("cluster-set-c64.jsonl", "doozer SET, 64 conns over 3 members"),
                    ("cluster-set-c1.jsonl", "doozer SET, 1 conn (to the seed)"),
                    ("cluster-set-c1-follower.jsonl", "doozer SET, 1 conn (to a follower)"),
                    ("cluster-set-c64-p16.jsonl", "doozer SET, 64 conns over 3 members, P16"),
                    ("cluster-local-set-c64.jsonl", "doozer SET, single node, 64 conns"),
                    ("cluster-set-1mb.jsonl", "doozer SET, 1 MB values, 16 conns over 3 members"),
                    ("cluster-durable-set-c64.jsonl", "doozer SET, durable, 64 conns over 3 members"),
                    ("cluster-durable-set-c1.jsonl", "doozer SET, durable, 1 conn (to the seed)"),
                    ("cluster-get-c64-p1.jsonl", "doozer GET, 64 conns over 3 members, P1"),
                    ("cluster-get-c64-p16.jsonl", "doozer GET, 64 conns over 3 members, P16"),
                    ("cluster-local-get-c64-p1.jsonl", "doozer GET, single node, 64 conns, P1"),
                    ("cluster-local-get-c64-p16.jsonl", "doozer GET, single node, 64 conns, P16")]:
    rs = [j["result"] for j in load(name)]
    if not rs: continue
    m = median_run(rs, lambda r: r["ops_per_s"])
    print(f"| {label} | {mr([r['ops_per_s'] for r in rs])} | {m['latency']['p50_us']:,.0f} / {m['latency']['p99_us']:,.0f} | "
          f"{sum(r['errors']['total'] for r in rs)} | {m.get('server_cpu_pct', 0):.0f} | {m.get('bench_cpu_pct', 0):.0f} | {len(rs)} |")
etcd = load("etcd.jsonl")
for mode in ["tmpfs", "disk"]:
    for c in [64, 1]:
        rs = [e for e in etcd if e["label"].endswith(mode) and e["clients"] == c]
        if not rs: continue
        m = median_run(rs, lambda r: r["puts_per_s"])
        print(f"| {rs[0]['label']}, put, {c} client(s) | {mr([r['puts_per_s'] for r in rs])} | {m['p50_us']:,.0f} / {m['p99_us']:,.0f} | "
              f"{sum(r['errors'] for r in rs)} | – | – | {len(rs)} |")
print()
print("| SET: peer traffic | datagrams / rev (UDP counters, run) | revs / instance | datagrams / instance | UDP payload B / rev | wire B / rev | stream records / instance | dropped (transport) / RcvbufErrors |")
print("|---|---|---|---|---|---|---|---|")
for name in ["cluster-set-c64.jsonl", "cluster-set-c64-p16.jsonl", "cluster-set-c1.jsonl", "cluster-set-1mb.jsonl"]:
  for j in load(name):
    u = j["result"]["udp_during_run"]; t = j.get("peer_traffic_whole_life", {})
    print(f"| {name[8:-6]} {j['result'].get('label','')} | {u.get('out_datagrams_per_rev', 0):.2f} ({u['scope']}) | {t.get('revs_per_instance',0):.1f} | "
            f"{t.get('datagrams_per_instance',0):.1f} | {t.get('payload_bytes_per_rev',0):.0f} | {t.get('wire_bytes_per_rev',0):.0f} | "
            f"{streamed(j):.1f} | {j['nodes']['all_nodes']['dropped']} / {u.get('rcvbuf_errors', 0)} |")
print()
print("| slave lag (10 k writes/s, watcher on the slave) | writes/s | delivered / expected | TOO_LATE | lag p50 / p99 / max ms | datagrams / rev |")
print("|---|---|---|---|---|---|")
for j in load("cluster-slave-lag.jsonl"):
    r = j["result"]; w = r["watch"]; d = r["delivery_latency"]
    print(f"| {r.get('label','')} | {r['writes_per_s']:,.0f} | {w['delivered_total']:,} / {w['expected_total']:,} | {w['too_late']} | "
          f"{d['p50_us']/1000:.2f} / {d['p99_us']/1000:.1f} / {d['max_us']/1000:.1f} | {r['udp_during_run'].get('out_datagrams_per_rev',0):.2f} |")
print()
print("| catch-up (50,000 × 64 B) | load SETs/s | first answer ms | serves all ms | files on slave |")
print("|---|---|---|---|---|")
for j in load("cluster-catchup.jsonl"):
    r = j["result"]
    print(f"| {r.get('label','')} | {r['load_sets_per_s']:,.0f} | {r['first_answer_ms']:.0f} | {r['serves_all_ms']:.0f} | {r['files_on_slave']:,} |")
