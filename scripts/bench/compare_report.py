#!/usr/bin/python3
"""compare_report.py RESULTS.jsonl META.json > table.md

RESULTS.jsonl: one line per h2load run (h2grpc_measure JSON + system/method/load/run/disturbed).
Medians leave out disturbed runs (other programs used > OTHER_MAX cores) unless every run of a
figure was disturbed. Ratios: our single node vs the echo server, our cluster vs etcd, same load.
"""
import json
import statistics
import sys
from collections import OrderedDict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = json.load(open(sys.argv[2]))

figs = OrderedDict()
for r in rows:
    figs.setdefault((r["system"], r["method"], r["load"]), []).append(r)


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


summary = OrderedDict()
for key, runs in figs.items():
    clean = [r for r in runs if not r["disturbed"]]
    use = clean or runs
    summary[key] = {
        "ops": med(use, "ops"), "p50": med(use, "p50_ms"), "p99": med(use, "p99_ms"),
        "min": min(r["ops"] for r in use), "max": max(r["ops"] for r in use),
        "n": len(use), "of": len(runs), "all_disturbed": not clean,
        "ok": all(r["ok"] for r in runs), "why": sorted({w for r in runs for w in r.get("why", [])}),
        "srv": med(use, "srv_cpu"), "gen": med(use, "gen_cpu"), "other": med(use, "other_cpu"),
    }

# reference figure for the ratio column
REF = {
    ("tscache 1 node", "Get"): ("grpc-js echo", "Echo"),
    ("tscache 1 node", "Set"): ("grpc-js echo", "Echo"),
    ("tscache 3 nodes, QUORUM", "Set"): ("etcd 3.4, 3 members", "Put"),
    ("tscache 3 nodes, QUORUM", "Get"): ("etcd 3.4, 3 members", "Range"),
}
TARGET = {("tscache 1 node", "Get"): 0.9, ("tscache 1 node", "Set"): 0.85}


def fmt(x, nd=0):
    if x is None:
        return "-"
    return f"{x:,.{nd}f}"


out = []
out.append(f"Measured {meta['date']} on {meta['host']} ({meta['cpus']} CPUs shared by h2load and the servers); "
           f"h2load {meta['h2load']}, node {meta['node']}, etcd {meta.get('etcd') or 'not run'}.")
out.append(f"Each figure: {meta['warm']} s warm-up (`-c 10 -m 1`, discarded), then {meta['runs']} runs of `-D {meta['dur']}`; "
           "median of the runs; p50/p99 from h2load's per-request log. Bodies: key + 100-byte value (Set/Put/Echo), key (Get/Range).")
out.append("")
out.append("| system | method | load | ops/s (median) | min-max | p50 ms | p99 ms | ratio | CPU srv / h2load / other |")
out.append("|---|---|---|---:|---:|---:|---:|---:|---|")
for (system, method, load), s in summary.items():
    ratio = ""
    ref = REF.get((system, method))
    if ref:
        rs = summary.get((ref[0], ref[1], load))
        if rs and rs["ops"] and s["ops"] is not None:
            ratio = f"{s['ops'] / rs['ops']:.2f}x {ref[1].lower()}"
            t = TARGET.get((system, method))
            if t is not None:
                ratio += " ✓" if s["ops"] / rs["ops"] >= t else f" (target {t}x)"
    flags = []
    if not s["ok"]:
        flags.append("CHECK FAILED: " + "; ".join(s["why"]))
    if s["all_disturbed"]:
        flags.append("all runs disturbed")
    elif s["n"] < s["of"]:
        flags.append(f"{s['of'] - s['n']} disturbed run(s) left out")
    cpu = f"{fmt(s['srv'], 2)} / {fmt(s['gen'], 2)} / {fmt(s['other'], 2)}"
    if flags:
        cpu += " — " + ", ".join(flags)
    out.append(f"| {system} | {method} | `{load}` | {fmt(s['ops'])} | {fmt(s['min'])}-{fmt(s['max'])} | "
               f"{fmt(s['p50'], 2)} | {fmt(s['p99'], 2)} | {ratio} | {cpu} |")
out.append("")
out.append("Checks: " + "; ".join(meta.get("checks", [])))
print("\n".join(out))
