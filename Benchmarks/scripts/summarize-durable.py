#!/usr/bin/env python3
"""Every run and the medians of scripts/durable.sh results (Markdown rows)."""
import csv, json, os, statistics, sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/doozer-bench-durable"


def load(name):
    p = os.path.join(out, name + ".jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []


def k(x):
    return f"{x / 1000:,.1f} k" if x >= 10000 else f"{x / 1000:,.2f} k"


def runs(name, part=None):
    """ops/s of each run in order, and the p50 and p99 ranges (µs)."""
    rs = [j["result"] if part is None else j["result"][part] for j in load(name)]
    if not rs:
        return "–", None
    p50 = [r["latency"]["p50_us"] for r in rs]
    p99 = [r["latency"]["p99_us"] for r in rs]
    ops = [r["ops_per_s"] for r in rs]
    text = ", ".join(k(x) for x in ops) + f" ({min(p50):,.0f}–{max(p50):,.0f} / {min(p99):,.0f}–{max(p99):,.0f})"
    return text, statistics.median(ops)


redis = {}
if os.path.exists(os.path.join(out, "redis.csv")):
    for row in csv.reader(open(os.path.join(out, "redis.csv"))):
        redis.setdefault(row[1], []).append((float(row[3]), float(row[6]) * 1000, float(row[8]) * 1000))

before = any(os.path.exists(os.path.join(out, f"before-c{c}.jsonl")) for c in (1, 64))
print("| SET, P1 | memory-only ops/s (p50 / p99 µs) | durable ops/s (p50 / p99 µs) | "
      + ("earlier build, durable | " if before else "") + "Redis `appendfsync always` ops/s (p50 / p99 µs) |")
print("|---|---|---|---|" + ("---|" if before else ""))
ratios = []
for c in (1, 64):
    memory, _ = runs(f"memory-c{c}")
    durable, durable_median = runs(f"durable-c{c}")
    cells = [memory, durable]
    if before:
        cells.append(runs(f"before-c{c}")[0])
    rs = redis.get(f"c{c}", [])
    if rs:
        cells.append(", ".join(k(r[0]) for r in rs)
                     + f" ({min(r[1] for r in rs):,.0f}–{max(r[1] for r in rs):,.0f} / {min(r[2] for r in rs):,.0f}–{max(r[2] for r in rs):,.0f})")
        if durable_median:
            ratios.append((c, durable_median, statistics.median(r[0] for r in rs)))
    else:
        cells.append("–")
    print(f"| {c} connection{'s' if c > 1 else ''} | " + " | ".join(cells) + " |")
print()
for c, d, r in ratios:
    print(f"c{c}: durable median {k(d)} / Redis median {k(r)} = {d / r:.2f}×")
print()
print("| GET readers, 16 connections, P1 | GET ops/s (p50 / p99 µs) | beside it: SET, 64 connections (p50 / p99 µs) |")
print("|---|---|---|")
for name, label in [("readers-alone", "alone (durable node)"), ("readers-durable", "beside durable SETs"),
                     ("readers-memory", "beside memory-only SETs")]:
    reads = runs(name, "readers")[0] if name != "readers-alone" else runs(name)[0]
    writes = runs(name)[0] if name != "readers-alone" else "–"
    print(f"| {label} | {reads} | {writes} |")
print()
for c in (1, 64):
    for j in load(f"durable-c{c}"):
        log = j.get("log_whole_life")
        if log:
            print(f"durable c{c} {j['result'].get('label', '')}: {log['batches']:,} batches, "
                  f"{log['bytes_per_batch']:,.0f} B and {log['sync_us_per_batch']:,.0f} µs of sync per batch, "
                  f"segments {log['prepared_segments']} prepared / {log['allocated_segments']} allocated (whole life)")
