#!/usr/bin/python3
"""Helpers of scripts/bench-batch.sh (stdlib + python3-grpcio, on /usr/bin/python3).

  bodies DIR [--value N] [--consistency C] KEY...
      writes DIR/mget.bin (MGetRequest of the KEYs) and DIR/mset.bin (MSetRequest: each KEY with
      a value of N bytes of 'v'), gRPC-framed for h2load -d, encoded with ../shared/bench/grpc_body.py
  check HOST:PORT MGet|MSet BODY --value N KEY...
      one call with python grpc (raw bytes): exit 0 only for grpc-status 0 and an answer of one
      result per KEY, in order (MGet: found, with its N-byte value; MSet: a version, no error, not
      superseded); prints the framed reply size (5 + message bytes), which h2load's runs are
      checked against
  report RESULTS.jsonl META.json
      the markdown of a run (stdout)
"""
import json
import os
import statistics
import sys

BENCH = os.environ.get("BENCH") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench")
sys.path.insert(0, BENCH)
import grpc_body as g  # noqa: E402


def arg(argv, name, default):
    if name in argv:
        i = argv.index(name)
        v = argv[i + 1]
        del argv[i:i + 2]
        return v
    return default


# ---------------------------------------------------------------- bodies
def cmd_bodies(argv):
    value = int(arg(argv, "--value", "100"))
    cons = int(arg(argv, "--consistency", "0"))
    out, keys = argv[0], [k.encode() for k in argv[1:]]
    tail = g.key(2, 0) + g.varint(cons) if cons else b""
    mget = b"".join(g.ld(1, k) for k in keys) + tail
    mset = b"".join(g.ld(1, g.ld(1, k) + g.ld(2, b"v" * value)) for k in keys) + tail
    for name, msg in (("mget.bin", mget), ("mset.bin", mset)):
        with open(os.path.join(out, name), "wb") as f:
            f.write(g.frame(msg))
    return 0


# ---------------------------------------------------------------- check
def fields(buf):
    out = {}
    for num, _wt, v in g.decode_fields(buf):
        out.setdefault(num, []).append(v)
    return out


def cmd_check(argv):
    import grpc

    value = int(arg(argv, "--value", "100"))
    target, method, body, keys = argv[0], argv[1], argv[2], argv[3:]
    host = target.rsplit(":", 1)[0]
    if not (host == "localhost" or host.startswith("127.")):
        raise SystemExit("check: loopback targets only")
    with open(body, "rb") as f:
        req = g.unframe(f.read())
    with grpc.insecure_channel(target) as ch:
        fn = ch.unary_unary(f"/cache.v1.CacheService/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            resp = fn(req, timeout=10)
        except grpc.RpcError as e:
            print(f"{method} on {target}: grpc-status {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    results = fields(resp).get(1, [])
    bad = []
    if len(results) != len(keys):
        bad.append(f"{len(results)} results for {len(keys)} keys")
    for i, (raw, key) in enumerate(zip(results, keys)):
        r = fields(raw)
        k = r.get(1, [b""])[0].decode()
        if k != key:
            bad.append(f"result {i} is for {k!r}, not {key!r}")
        elif method == "MGet" and (r.get(2, [0])[0] != 1 or len(r.get(3, r.get(4, [b""]))[0]) != value or 7 in r):
            bad.append(f"{key}: not found with a {value}-byte value ({r})")
        elif method == "MSet" and (not r.get(2, [0])[0] or 3 in r or r.get(4, [0])[0]):
            bad.append(f"{key}: no version, an error or superseded ({r})")
        if len(bad) > 3:
            break
    if bad:
        print(f"{method} on {target}: " + "; ".join(bad), file=sys.stderr)
        return 1
    print(len(resp) + 5)
    return 0


# ---------------------------------------------------------------- report
TARGETS = {("1 node", "MGet"): 300_000, ("1 node", "MSet"): 150_000, ("3 nodes", "MGet"): 150_000, ("3 nodes", "MSet"): 75_000}


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def cmd_report(argv):
    rows = [json.loads(line) for line in open(argv[0]) if line.strip()]
    meta = json.load(open(argv[1]))
    n = meta["keys"]
    out = []
    out.append(
        f"Measured {meta['date']} on {meta['host']} ({meta['cpus']} CPUs shared by the load generators and the servers), "
        f"commit {meta['commit']}" + (f" (+{meta['src_dirty']} uncommitted files in src/ or proto/)" if meta["src_dirty"] else "")
        + f", build: {meta['build']}; h2load {meta['h2load']}, node {meta['node']}, {meta['redis']}."
    )
    out.append(
        f"Each call carries {n} keys of {meta['value']}-byte values (the same {n} keys, preloaded); keys/s = calls/s x {n}. "
        f"Each figure: {meta['warm']} s warm-up, then {meta['runs']} rounds of `-D {meta['dur']}` (up to {meta['extra']} more while some figure has fewer than "
        f"{meta['runs']} clean runs; a run is disturbed when other programs used more than {meta['other_max']} cores), the systems' runs alternating within "
        "each round; each figure's median is over its clean runs (over all its runs if none was clean), paired ratios over the rounds where both runs are used. "
        "redis-benchmark runs the same command with `-c C -P M` for h2load's `-c C -m M` "
        "(the same connections and calls in flight) and `-n` sized to about the same duration. "
        "x redis: our median keys/s over redis's (paired: median of the per-round ratios). "
        "CPU µs/key: the server process(es)' user+system CPU per key. CPU in cores: servers / load generator / everything else / steal."
    )
    out.append("")
    out.append("| system | method | load | calls/s | keys/s (median) | min-max keys/s | p50 ms | p99 ms | x redis (paired) | target | CPU µs/key | CPU srv / gen / other / steal | rounds used |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|")
    groups = {}
    for r in rows:
        groups.setdefault((r["phase"], r["load"]), {}).setdefault((r["system"], r["method"]), {})[r["round"]] = r
    summary = []
    for (phase, load), systems in groups.items():
        fig = {}
        for (system, method), rs in systems.items():
            clean = [k for k in sorted(rs) if not rs[k]["disturbed"]]
            use = clean or sorted(rs)
            sel = [rs[k] for k in use]
            fig[(system, method)] = {
                "ops": med([x["ops"] for x in sel]),
                "keys": med([x["ops"] * n for x in sel]),
                "min": min(x["ops"] * n for x in sel),
                "max": max(x["ops"] * n for x in sel),
                "p50": med([x.get("p50_ms") for x in sel]),
                "p99": med([x.get("p99_ms") for x in sel]),
                "cpu": med([x["srv_cpu"] / (x["ops"] * n) * 1e6 if x.get("srv_cpu") and x["ops"] else None for x in sel]),
                "srv": med([x.get("srv_cpu") for x in sel]),
                "gen": med([x.get("gen_cpu") for x in sel]),
                "other": med([x.get("other_cpu") for x in sel]),
                "steal": med([x.get("steal_cpu") for x in sel]),
                "sel": {k: rs[k] for k in use},
                "clean": bool(clean),
            }
        for (system, method), f in fig.items():
            ratio = target = ""
            if not system.startswith("redis"):
                ref = fig.get(("redis", method.upper()))
                if ref and ref["keys"]:
                    paired = med([f["sel"][k]["ops"] / ref["sel"][k]["ops"] for k in f["sel"] if k in ref["sel"] and ref["sel"][k]["ops"]])
                    ratio = f"{f['keys'] / ref['keys']:.3f}x ({fmt(paired, 3)})"
                base = fig.get((system + " (base)", method))
                size = "1 node" if system.startswith("tscache 1 node") else "3 nodes"
                t = TARGETS.get((size, method))
                if t and not system.endswith("(base)"):
                    target = f"≥ {t:,}: {'✓' if f['keys'] >= t else '✗'}"
                summary.append((phase, load, system, method, f, ref, base, t))
            out.append(
                f"| {system} | {method} | `{load}` | {fmt(f['ops'])} | {fmt(f['keys'])} | {fmt(f['min'])}-{fmt(f['max'])} | {fmt(f['p50'], 2)} | {fmt(f['p99'], 2)} | "
                f"{ratio} | {target} | {fmt(f['cpu'], 2)} | {fmt(f['srv'], 2)} / {fmt(f['gen'], 2)} / {fmt(f['other'], 2)} / {fmt(f['steal'], 2)} | "
                f"{len(f['sel'])} of {len(systems[(system, method)])}{'' if f['clean'] else ' (all disturbed)'} |"
            )
    out.append("")
    out.append("Targets (issue 14), keys/s, medians of this run:")
    out.append("")
    out.append("| what | load | ours keys/s | target | met | redis keys/s | ours / redis |" + (" x base by keys/s | x base by CPU/key |" if meta.get("base") else ""))
    out.append("|---|---|---:|---:|---|---:|---:|" + ("---:|---:|" if meta.get("base") else ""))
    for phase, load, system, method, f, ref, base, t in summary:
        if system.endswith("(base)") or not t:
            continue
        line = (f"| {system} {method} | `{load}` | {fmt(f['keys'])} | {t:,} | {'yes' if f['keys'] >= t else 'no'} | "
                f"{fmt(ref['keys'] if ref else None)} | {(f['keys'] / ref['keys']) if ref and ref['keys'] else 0:.3f}x |")
        if meta.get("base"):
            if base and base["keys"]:
                paired = med([f["sel"][k]["ops"] / base["sel"][k]["ops"] for k in f["sel"] if k in base["sel"] and base["sel"][k]["ops"]])
                line += f" {f['keys'] / base['keys']:.2f}x ({fmt(paired, 2)}) | {fmt(base['cpu'] / f['cpu'] if f['cpu'] and base['cpu'] else None, 2)}x |"
            else:
                line += " - | - |"
        out.append(line)
    if meta.get("base"):
        out.append("")
        out.append(f"base = the same nodes from `{meta['base']}`, measured side by side (x base > 1: ours is faster; by CPU/key: base's CPU per key over ours).")
    out.append("")
    out.append("Per round (keys/s; * = disturbed):")
    out.append("")
    for (phase, load), systems in groups.items():
        for (system, method), rs in systems.items():
            cells = ", ".join(f"r{k} {rs[k]['ops'] * n:,.0f}{'*' if rs[k]['disturbed'] else ''}" for k in sorted(rs))
            out.append(f"- `{load}` {system} {method}: {cells}")
    bad = [f"{r['system']} {r['method']} {r['load']} round {r['round']}: {'; '.join(r.get('why', []))}" for r in rows if not r.get("ok", True)]
    out.append("")
    out.append("Checks: " + "; ".join(meta["checks"]))
    if bad:
        out.append("")
        out.append("**Runs that failed a check (errors may have been measured):** " + "; ".join(bad))
    print("\n".join(out))
    return 0


def main(argv):
    cmds = {"bodies": cmd_bodies, "check": cmd_check, "report": cmd_report}
    if not argv or argv[0] not in cmds:
        print(__doc__)
        return 2
    return cmds[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
