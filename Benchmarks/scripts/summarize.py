#!/usr/bin/env python3
"""Medians and ranges of scripts/single-node.sh results (Markdown rows)."""
import json, csv, statistics, sys, os
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/doozer-bench-results"
def mr(xs):
    xs = sorted(xs)
    return f"{statistics.median(xs):,.0f} ({xs[0]:,.0f}–{xs[-1]:,.0f})" if xs else "–"
def load(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
redis = {}
for row in csv.reader(open(os.path.join(out, "redis.csv"))):
    if row[2] == "test": continue
    redis.setdefault((row[1], row[2]), []).append(float(row[3]))
print("| workload | doozer ops/s median (range) | p50 / p99 / max µs (median run) | errors | Redis ops/s median (range) |")
print("|---|---|---|---|---|")
for name, label, rk in [("get-c64-p1.jsonl", "GET, 64 conns, P1", ("P1", "GET")),
                        ("set-c64-p1.jsonl", "SET, 64 conns, P1", ("P1", "SET")),
                        ("get-c64-p16.jsonl", "GET, 64 conns, P16", ("P16", "GET"))]:
    rs = [j["result"] for j in load(name)]
    if not rs: continue
    rs.sort(key=lambda r: r["ops_per_s"]); m = rs[len(rs)//2]["latency"]
    print(f"| {label} | {mr([r['ops_per_s'] for r in rs])} | {m['p50_us']:,.0f} / {m['p99_us']:,.0f} / {m['max_us']:,.0f} | "
          f"{sum(r['errors']['total'] for r in rs)} | {mr(redis.get(rk, []))} |")
print()
print("| watch | writes/s achieved | delivered / expected | watchers complete | TOO_LATE | events/s delivered | delivery p50 / p99 ms | server CPU % |")
print("|---|---|---|---|---|---|---|---|")
for name in ["watch-100-wp1.jsonl", "watch-100-wp16.jsonl", "watch-100-wp64.jsonl"]:
    for j in load(name):
        r = j["result"]; w = r["watch"]; d = r["delivery_latency"]
        print(f"| {name[:-6]} {r.get('label','')} | {r['writes_per_s']:,.0f} | {w['delivered_total']:,} / {w['expected_total']:,} | "
              f"{w['watchers_complete']}/{r['watchers']} | {w['too_late']:,} | {w['events_per_s']:,.0f} | {d['p50_us']/1000:,.1f} / {d['p99_us']/1000:,.1f} | {r.get('server_cpu_pct',0):.0f} |")
for j in load("memory.jsonl"):
    print(); print("memory:", json.dumps(j["result"]))
