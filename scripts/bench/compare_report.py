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
        "per_core": med([dict(r, pc=r["ops"] / r["srv_cpu"]) for r in use if r.get("srv_cpu")], "pc"),
        "srv": med(use, "srv_cpu"), "gen": med(use, "gen_cpu"), "other": med(use, "other_cpu"),
        "steal": med(use, "steal_cpu"),
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
out.append(f"Each figure: {meta['warm']} s warm-up (`-c 10 -m 1`, discarded), then {meta['runs']} runs of `-D {meta['dur']}`, "
           "the compared systems' runs alternating round by round; median of the runs (disturbed runs left out when there are clean ones); "
           "p50/p99 from h2load's per-request log. Bodies: key + 100-byte value (Set/Put/Echo), key (Get/Range). "
           "ratio = median ops/s over the reference's median at the same load; paired = median of the per-round ratios. "
           f"CPU in cores: server processes / h2load / everything else (a run is disturbed when 'else' > {meta.get('other_max', 0.15)}); "
           "ops per server core-s = ops/s divided by the CPU the server process(es) used (less sensitive to other work on the machine than ops/s); "
           "steal = CPU time the hypervisor gave to other guests while the run went on (not counted as disturbance: this machine cannot avoid it, but it slows everything).")
out.append("")
out.append("| system | method | load | ops/s (median) | min-max | p50 ms | p99 ms | ratio | ops per server core-s | CPU srv / h2load / other / steal |")
out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
for (system, method, load), s in summary.items():
    ratio = ""
    ref = REF.get((system, method))
    if ref:
        rs = summary.get((ref[0], ref[1], load))
        if rs and rs["ops"] and s["ops"] is not None:
            r = s["ops"] / rs["ops"]
            ratio = f"{r:.2f}x {ref[1].lower()}"
            # paired: same round, run back to back; clean rounds if there are any
            mine = {x["run"]: x for x in figs[(system, method, load)]}
            theirs = {x["run"]: x for x in figs[(ref[0], ref[1], load)]}
            both = [k for k in mine if k in theirs and theirs[k]["ops"]]
            cleanb = [k for k in both if not mine[k]["disturbed"] and not theirs[k]["disturbed"]]
            pr = [mine[k]["ops"] / theirs[k]["ops"] for k in (cleanb or both)]
            if pr:
                ratio += f" (paired {statistics.median(pr):.2f}"
                if s["per_core"] and rs["per_core"]:
                    ratio += f", per core {s['per_core'] / rs['per_core']:.2f}"
                ratio += ")"
            t = TARGET.get((system, method))
            if t is not None:
                ratio += " ✓" if r >= t else f" ✗ target {t}x"
    flags = []
    if not s["ok"]:
        flags.append("CHECK FAILED: " + "; ".join(s["why"]))
    if s["all_disturbed"]:
        flags.append("all runs disturbed")
    elif s["n"] < s["of"]:
        flags.append(f"{s['of'] - s['n']} disturbed run(s) left out")
    cpu = f"{fmt(s['srv'], 2)} / {fmt(s['gen'], 2)} / {fmt(s['other'], 2)} / {fmt(s['steal'], 2)}"
    if flags:
        cpu += " — " + ", ".join(flags)
    out.append(f"| {system} | {method} | `{load}` | {fmt(s['ops'])} | {fmt(s['min'])}-{fmt(s['max'])} | "
               f"{fmt(s['p50'], 2)} | {fmt(s['p99'], 2)} | {ratio} | {fmt(s['per_core'])} | {cpu} |")
out.append("")
out.append("Checks: " + "; ".join(meta.get("checks", [])))
print("\n".join(out))
