#!/usr/bin/env bash
# Side-by-side h2load figures for the speed targets, all in ONE run on this machine:
#   1. bare grpc-js echo server (../shared/bench/echo-server.js), Echo with key + 100 B value
#   2. our single node (dist/main.js): Get (preloaded key, 100 B value) and Set (key + 100 B)
#      -> ratio ours/echo (targets: Get >= 0.9x, Set >= 0.85x)
#   3. our 3-node cluster, load through one node, consistency QUORUM: Set and Get
#   4. etcd 3.4, 3 members (load on the leader): Put and Range (linearizable)
#      -> ratio cluster/etcd
# Loads: "-c 50 -m 1" and "-c 10 -m 10"; each figure = WARM s warm-up + RUNS runs of -D DUR
# through ../shared/bench/h2grpc.sh (h2grpc_measure: ops/s, p50/p99, DATA bytes/request check).
# The systems compared are up at the same time and their runs alternate (echo, Get, Set, echo,
# ...; cluster Set, etcd Put, cluster Get, etcd Range, ...), so each ratio compares runs made
# under the same conditions on this shared machine; the report also gives the paired ratio.
# Every method is first called once with grpc_body.py (must return grpc-status 0).
# Each run also records the hypervisor's steal time (/proc/stat) as "steal" cores: CPU this VM
# wanted and did not get. It is reported, not counted as a disturbance (nothing here avoids it).
#
# usage: scripts/compare.sh            (from anywhere; ~6 minutes)
# env:   RUNS=3 WARM=2 DUR=5 ONLY="echo single cluster etcd" OTHER_MAX=0.15 EXTRA=2
#        LOADS="-c 50 -m 1;-c 10 -m 10"
# output: markdown table on stdout and in .bench/compare-<stamp>.md (+ raw files in .bench/compare-<stamp>/)
#
# Every process it starts is recorded and stopped by its PID (trap on exit / Ctrl-C).
# Only 127.0.0.1 is used. Ports: echo 50161, single node 50171, cluster 50181-50183,
# etcd clients 23794-23796 / peers 23804-23806.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BENCH="$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)" || { echo "compare.sh: ../shared/bench not found next to the repo" >&2; exit 2; }
PY=/usr/bin/python3

RUNS="${RUNS:-3}"; WARM="${WARM:-2}"; DUR="${DUR:-5}"
ONLY="${ONLY:-echo single cluster etcd}"
OTHER_MAX="${OTHER_MAX:-0.15}"; EXTRA="${EXTRA:-2}"
IFS=';' read -r -a LOADS <<<"${LOADS:--c 50 -m 1;-c 10 -m 10}"

HOST=127.0.0.1
ECHO_PORT=50161; SINGLE_PORT=50171; CLUSTER_PORTS=(50181 50182 50183)
ETCD_CLIENT=(23794 23795 23796); ETCD_PEER=(23804 23805 23806)
KEY=bench:key
ETCD_KEY=bench/key

STAMP="$(date +%Y%m%d-%H%M%S)"
OUTDIR="$ROOT/.bench"
WORK="$OUTDIR/compare-$STAMP"
ETCD_DIR="$(mktemp -d /tmp/tscache-compare-etcd.XXXXXX)"
RESULTS="$WORK/results.jsonl"
mkdir -p "$WORK"; : >"$RESULTS"; : >"$WORK/checks.txt"

export ETCDCTL_API=3
# shellcheck source=/dev/null
. "$BENCH/h2grpc.sh"

# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  rm -rf "$ETCD_DIR"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# grpc_ok TARGET METHOD BODY -> framed reply size (5 + message); dies unless grpc-status 0
grpc_ok() {
  local out size
  out="$($PY "$BENCH/grpc_body.py" call "$1" "$2" "$3" 2>&1)" || { echo "$out" >&2; die "$1$2 did not return grpc-status 0"; }
  echo "$out" >>"$WORK/calls.txt"
  size="$(sed -n 's/.*response \([0-9]*\) B.*/\1/p' <<<"$out" | head -1)"
  echo $(( size + 5 ))
}

# ------------------------------------------------------------------ measuring
# A "job" is one figure: "SYSTEM|METHOD|TARGET|PATH|BODY|EXPECT_BYTES|SERVER_PIDS".
# rounds JOB... : warms each job up, then for every load runs the jobs in turn (round-robin),
# RUNS rounds, so that the figures being compared see the same machine conditions (other work
# on this shared 2-CPU machine comes and goes). A round in which any run was disturbed (other
# programs used > OTHER_MAX cores) is repeated, up to EXTRA more rounds.
measure_one() {  # measure_one JOB LOAD ROUND -> sets DISTURBED=true|false
  local system method target path body expect pids tag json
  IFS='|' read -r system method target path body expect pids <<<"$1"
  tag="$(tr -c 'A-Za-z0-9' '_' <<<"$system-$method-$2")"
  # steal time (CPU the hypervisor gave to others): invisible to the "other" check, so reported
  local st0 st1 t0 t1
  st0="$(awk '/^cpu /{print $9; exit}' /proc/stat)"; t0="$(date +%s.%N)"
  # shellcheck disable=SC2086
  json="$(H2GRPC_SERVER_PIDS="$pids" h2grpc_measure "$WORK/$tag-$3" "$expect" "$target" "$path" "$body" $2 -D "$DUR")" \
    || die "h2load failed: $system $method $2 (see $WORK/$tag-$3.txt)"
  st1="$(awk '/^cpu /{print $9; exit}' /proc/stat)"; t1="$(date +%s.%N)"
  json="$($PY -c 'import json,os,sys; d=json.loads(sys.argv[1]); d["steal_cpu"]=round((int(sys.argv[3])-int(sys.argv[2]))/os.sysconf("SC_CLK_TCK")/(float(sys.argv[5])-float(sys.argv[4])),3); print(json.dumps(d))' "$json" "$st0" "$st1" "$t0" "$t1")"
  rm -f "$WORK/$tag-$3.tsv"
  DISTURBED="$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); o=d.get("other_cpu"); print("true" if o is not None and o > float(sys.argv[2]) else "false")' "$json" "$OTHER_MAX")"
  $PY -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(system=sys.argv[2], method=sys.argv[3], load=sys.argv[4], run=int(sys.argv[5]), disturbed=sys.argv[6]=="true"); print(json.dumps(d))' \
    "$json" "$system" "$method" "$2" "$3" "$DISTURBED" >>"$RESULTS"
  log "  $system $method $2 round $3: $($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f ops/s p50 %s p99 %s ms, %s B/req, ok=%s srv=%s gen=%s other=%s steal=%s" % (d["ops"], d["p50_ms"], d["p99_ms"], d["data_per_req"], d["ok"], d.get("srv_cpu"), d.get("gen_cpu"), d.get("other_cpu"), d.get("steal_cpu")))' "$json")$([[ $DISTURBED == true ]] && echo ' (disturbed)')"
}

rounds() {
  local job load r clean bad system method target path body expect pids
  for job in "$@"; do
    IFS='|' read -r system method target path body expect pids <<<"$job"
    log "warm-up $system $method (${WARM}s)"
    h2grpc "$target" "$path" "$body" -c 10 -m 1 -D "$WARM" >/dev/null 2>&1 || die "warm-up failed: $system $method"
  done
  for load in "${LOADS[@]}"; do
    clean=0
    for (( r=1; r <= RUNS + EXTRA && clean < RUNS; r++ )); do
      bad=false
      for job in "$@"; do measure_one "$job" "$load" "$r"; [[ "$DISTURBED" == true ]] && bad=true; done
      [[ "$bad" == false ]] && clean=$(( clean + 1 ))
      (( r >= RUNS && clean == 0 && r >= RUNS + EXTRA )) && log "  every round of $load was disturbed"
    done
  done
  return 0
}

# ------------------------------------------------------------------ bodies
B="$WORK/bodies"; mkdir -p "$B"
$PY "$BENCH/grpc_body.py" encode -o "$B/echo.bin" "1:string=$KEY" '2:string=*100' >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/set.bin" "1:string=$KEY" '2:string=*100' >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/get.bin" "1:string=$KEY" >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/setq.bin" "1:string=$KEY" '2:string=*100' 4:enum=2 >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/getq.bin" "1:string=$KEY" 2:enum=2 >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/put.bin" "1:bytes=$ETCD_KEY" '2:bytes=*100' >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/range.bin" "1:bytes=$ETCD_KEY" >/dev/null

command -v h2load >/dev/null || die "h2load missing: apt-get install -y nghttp2-client"
# Always build: a stale dist/ would measure another tree than the one checked out.
log "npm run build"; (cd "$ROOT" && npm run build --silent) || die "build failed"
CACHE_PATH=/cache.v1.CacheService

# ------------------------------------------------------------------ phase A: echo + single node, interleaved
JOBS=()
if [[ " $ONLY " == *" echo "* ]]; then
  need_free "$ECHO_PORT"
  # The echo server's deps: its own node_modules if `npm ci` was run there, else ours (same pinned versions).
  np=""; [[ -d "$BENCH/node_modules/@grpc/grpc-js" ]] || np="$ROOT/node_modules"
  start_bg echo "$WORK/echo.log" env NODE_PATH="$np" node "$BENCH/echo-server.js" "$HOST:$ECHO_PORT"
  epid=$STARTED_PID
  wait_listen "$ECHO_PORT" "$epid" 10 || die "echo server did not start: $(tail -3 "$WORK/echo.log")"
  exp="$(grpc_ok "$HOST:$ECHO_PORT" /bench.v1.Echo/Echo "$B/echo.bin")"
  check "echo: Echo -> grpc-status 0, framed reply $exp B"
  JOBS+=("grpc-js echo|Echo|$HOST:$ECHO_PORT|/bench.v1.Echo/Echo|$B/echo.bin|$exp|$epid")
fi
if [[ " $ONLY " == *" single "* ]]; then
  need_free "$SINGLE_PORT"
  start_bg single "$WORK/single.log" env LOG_LEVEL=warn ADDR="$HOST:$SINGLE_PORT" PEERS="$HOST:$SINGLE_PORT" node "$ROOT/dist/main.js"
  spid=$STARTED_PID
  wait_listen "$SINGLE_PORT" "$spid" 20 || die "node did not start: $(tail -3 "$WORK/single.log")"
  t="$HOST:$SINGLE_PORT"
  exp_set="$(grpc_ok "$t" $CACHE_PATH/Set "$B/set.bin")"
  exp_get="$(grpc_ok "$t" $CACHE_PATH/Get "$B/get.bin")"
  (( exp_get >= 110 )) || die "Get reply is only $exp_get B: the 100 B value is not there"
  check "single node: Set -> grpc-status 0, framed reply $exp_set B; Get of the preloaded key -> grpc-status 0, framed reply $exp_get B (carries the 100 B value)"
  JOBS+=("tscache 1 node|Get|$t|$CACHE_PATH/Get|$B/get.bin|$exp_get|$spid"
         "tscache 1 node|Set|$t|$CACHE_PATH/Set|$B/set.bin|$exp_set|$spid")
fi
if (( ${#JOBS[@]} > 0 )); then
  rounds "${JOBS[@]}"
  if [[ " $ONLY " == *" single "* ]]; then
    grpc_ok "$HOST:$SINGLE_PORT" $CACHE_PATH/Get "$B/get.bin" >/dev/null
    check "single node: Get after the runs -> grpc-status 0"
  fi
  stop_all
fi

# ------------------------------------------------------------------ phase B: 3-node cluster (QUORUM) + etcd x3, interleaved
JOBS=()
if [[ " $ONLY " == *" cluster "* ]]; then
  need_free "${CLUSTER_PORTS[@]}"
  peers="$(printf "$HOST:%s," "${CLUSTER_PORTS[@]}")"; peers="${peers%,}"
  cpids=()
  for p in "${CLUSTER_PORTS[@]}"; do
    start_bg "cluster:$p" "$WORK/cluster-$p.log" env LOG_LEVEL=warn ADDR="$HOST:$p" PEERS="$peers" node "$ROOT/dist/main.js"
    cpids+=("$STARTED_PID")
  done
  for i in 0 1 2; do wait_listen "${CLUSTER_PORTS[$i]}" "${cpids[$i]}" 20 || die "cluster node ${CLUSTER_PORTS[$i]} did not start"; done
  # shellcheck disable=SC2086
  (cd "$ROOT" && node --import tsx scripts/bench/wait-cluster.ts 3 ${peers//,/ }) >&2 || die "cluster did not converge"
  t="$HOST:${CLUSTER_PORTS[0]}"
  exp_set="$(grpc_ok "$t" $CACHE_PATH/Set "$B/setq.bin")"
  exp_get="$(grpc_ok "$t" $CACHE_PATH/Get "$B/getq.bin")"
  (( exp_get >= 110 )) || die "cluster Get reply is only $exp_get B"
  grpc_ok "$HOST:${CLUSTER_PORTS[1]}" $CACHE_PATH/Get "$B/getq.bin" >/dev/null
  check "cluster: Set QUORUM via ${CLUSTER_PORTS[0]} -> grpc-status 0 ($exp_set B); Get QUORUM -> grpc-status 0 ($exp_get B), also via ${CLUSTER_PORTS[1]}"
  JOBS+=("tscache 3 nodes, QUORUM|Set|$t|$CACHE_PATH/Set|$B/setq.bin|$exp_set|${cpids[*]}"
         "tscache 3 nodes, QUORUM|Get|$t|$CACHE_PATH/Get|$B/getq.bin|$exp_get|${cpids[*]}")
fi
ETCD_VER=""
if [[ " $ONLY " == *" etcd "* ]]; then
  if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    log "etcd/etcdctl missing (apt-get install -y etcd-server etcd-client): skipping etcd"
    check "etcd: not installed, not measured"
  else
    need_free "${ETCD_CLIENT[@]}" "${ETCD_PEER[@]}"
    ETCD_VER="$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')"
    ic=""; for i in 0 1 2; do ic+="${ic:+,}m$((i+1))=http://$HOST:${ETCD_PEER[$i]}"; done
    epids=(); eps=""
    for i in 0 1 2; do
      start_bg "etcd:m$((i+1))" "$WORK/etcd-m$((i+1)).log" etcd --name "m$((i+1))" --data-dir "$ETCD_DIR/m$((i+1))" \
        --listen-client-urls "http://$HOST:${ETCD_CLIENT[$i]}" --advertise-client-urls "http://$HOST:${ETCD_CLIENT[$i]}" \
        --listen-peer-urls "http://$HOST:${ETCD_PEER[$i]}" --initial-advertise-peer-urls "http://$HOST:${ETCD_PEER[$i]}" \
        --initial-cluster "$ic" --initial-cluster-token tscache-compare --initial-cluster-state new \
        --logger zap --log-level warn
      epids+=("$STARTED_PID"); eps+="${eps:+,}$HOST:${ETCD_CLIENT[$i]}"
    done
    for i in $(seq 1 150); do etcdctl --endpoints="$eps" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
    etcdctl --endpoints="$eps" endpoint health >/dev/null 2>&1 || die "etcd not healthy"
    leader="$(etcdctl --endpoints="$eps" endpoint status -w json | $PY -c 'import json,sys; d=json.load(sys.stdin); print([e["Endpoint"] for e in d if e["Status"]["leader"] == e["Status"]["header"]["member_id"]][0])')"
    exp_put="$(grpc_ok "$leader" /etcdserverpb.KV/Put "$B/put.bin")"
    exp_range="$(grpc_ok "$leader" /etcdserverpb.KV/Range "$B/range.bin")"
    check "etcd $ETCD_VER x3: leader $leader; Put -> grpc-status 0 ($exp_put B); Range (linearizable) -> grpc-status 0 ($exp_range B)"
    JOBS+=("etcd 3.4, 3 members|Put|$leader|/etcdserverpb.KV/Put|$B/put.bin|$exp_put|${epids[*]}"
           "etcd 3.4, 3 members|Range|$leader|/etcdserverpb.KV/Range|$B/range.bin|$exp_range|${epids[*]}")
  fi
fi
if (( ${#JOBS[@]} > 0 )); then
  # order: cluster Set, etcd Put, cluster Get, etcd Range (each pair side by side)
  ORDERED=()
  for m in Set Put Get Range; do for j in "${JOBS[@]}"; do [[ "$(cut -d'|' -f2 <<<"$j")" == "$m" ]] && ORDERED+=("$j"); done; done
  rounds "${ORDERED[@]}"
  if [[ -n "${eps:-}" ]]; then
    vlen="$(etcdctl --endpoints="$eps" get "$ETCD_KEY" --print-value-only | tr -d '\n' | wc -c)"
    check "etcd: value of $ETCD_KEY after the runs is $vlen B"
  fi
  stop_all
fi

# ------------------------------------------------------------------ report
$PY - "$WORK/meta.json" "$WORK/checks.txt" <<PYEOF
import json, os, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
meta = {"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "host": sh("uname -r").join(["Linux ", ""]), "cpus": os.cpu_count(),
        "h2load": sh("h2load --version | head -1").replace("h2load ", ""), "node": sh("node --version"),
        "etcd": "$ETCD_VER", "other_max": $OTHER_MAX, "runs": $RUNS, "warm": $WARM, "dur": $DUR,
        "checks": [l.strip() for l in open(sys.argv[2]) if l.strip()]}
json.dump(meta, open(sys.argv[1], "w"))
PYEOF
MD="$OUTDIR/compare-$STAMP.md"
$PY "$HERE/bench/compare_report.py" "$RESULTS" "$WORK/meta.json" >"$MD"
cat "$MD"
log "table: $MD; raw runs: $WORK"
