#!/usr/bin/env bash
# Batch calls (issue 14), all in ONE run on this machine: MGet and MSet of KEYS keys (default 100)
# with VALUE-byte values (default 100), through
#   1. one node (dist/main.js; the node's default consistency, which is ONE replica of one)
#   2. one node of a 3-node cluster, consistency QUORUM
# side by side with Redis (redis-server from Debian, no persistence) answering MGET / MSET of
# the same keys and values (redis-benchmark), as the reference: ratio = our keys/s over Redis's.
# Targets: MGet >= 300,000 keys/s on one node and >= 150,000 through the cluster; MSet at least
# half of those. keys/s = calls/s x KEYS.
#
# Load: h2load posting one fixed gRPC body (scripts/bench/batch.py bodies, encoded with
# ../shared/bench/grpc_body.py) through ../shared/bench/h2grpc.sh's h2grpc_measure (ops/s,
# p50/p99 from the per-request log, DATA bytes per reply checked against the checked reply's
# size: an error reply is trailers-only). redis-benchmark runs the same command with -c C -P M
# for h2load's -c C -m M (the same connections and calls in flight), -n sized from its warm-up
# to last about DUR seconds. Before loading, the KEYS keys are preloaded (one MSet / MSET) and
# checked: one MGet answers every key found with its value, one MSet every key with a version
# (python grpc, raw bytes; scripts/bench/batch.py check); redis answers MGET with every value.
# Loads: "-c 10 -m 1" (10 calls = 1,000 keys in flight) and "-c 10 -m 10" (compare.sh's
# heavier load: 100 calls = 10,000 keys in flight).
# Each figure: WARM s warm-up, then RUNS rounds of -D DUR in which the systems of a phase run one
# after the other (ours MGet, redis MGET, ours MSet, redis MSET). A run during which other
# programs used more than OTHER_MAX cores is "disturbed"; while some figure has fewer than RUNS
# clean runs another round is run (at most EXTRA more). Each figure's median is over its clean
# runs (all of them if none is clean); the report also gives the per-round (paired) ratios, over
# the rounds where both runs are used, and each server's CPU per key.
#
# usage: scripts/bench-batch.sh           (~5 minutes with the defaults, ~7 with BASE_MAIN; one load: about half)
# env:   RUNS=3 WARM=2 DUR=5 EXTRA=2 OTHER_MAX=0.15 LOADS="-c 10 -m 1;-c 10 -m 10" (h2load; ';' between)
#        KEYS=100 VALUE=100 ONLY="single cluster"
#        BUILD=snapshot|dist|0  snapshot (default): compile src/ with tsc into the run's own
#          directory (dist/ is left alone); dist: npm run build; 0: dist/main.js as it is
#        MAIN=path/main.js      run this build instead (no build step)
#        BASE_MAIN=path/main.js also run this other build side by side (A/B: "tscache ... (base)"
#          rows and x base ratios), e.g. a `git archive` of the previous commit, built
# output: markdown on stdout and in .bench/bench-batch-<stamp>.md; raw runs, checks, bodies and
# logs in .bench/bench-batch-<stamp>/ (report: python3 scripts/bench/batch.py report results.jsonl meta.json)
#
# Every process it starts (nodes, redis-server) is recorded and stopped by its PID (trap on
# exit, also on failure or Ctrl-C). Only 127.0.0.1 is used. Ports: one node 50241 (base 50242),
# cluster 50251-50253 (base 50261-50263), redis 63841.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BENCH="$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)" || { echo "bench-batch.sh: ../shared/bench not found next to the repo" >&2; exit 2; }
PY=/usr/bin/python3
export BENCH

RUNS="${RUNS:-3}"; WARM="${WARM:-2}"; DUR="${DUR:-5}"; EXTRA="${EXTRA:-2}"; OTHER_MAX="${OTHER_MAX:-0.15}"
KEYS="${KEYS:-100}"; VALUE="${VALUE:-100}"; ONLY="${ONLY:-single cluster}"; BUILD="${BUILD:-snapshot}"
IFS=';' read -r -a LOADS <<<"${LOADS:--c 10 -m 1;-c 10 -m 10}"

HOST=127.0.0.1
SINGLE_PORT=50241; BASE_SINGLE_PORT=50242
CLUSTER_PORTS=(50251 50252 50253); BASE_CLUSTER_PORTS=(50261 50262 50263)
REDIS_PORT=63841
CACHE_PATH=/cache.v1.CacheService

STAMP="$(date +%Y%m%d-%H%M%S)"
OUTDIR="$ROOT/.bench"
WORK="$OUTDIR/bench-batch-$STAMP"
RESULTS="$WORK/results.jsonl"
mkdir -p "$WORK"; : >"$RESULTS"; : >"$WORK/checks.txt"

# shellcheck source=/dev/null
. "$BENCH/h2grpc.sh"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v h2load >/dev/null || die "h2load missing: apt-get install -y nghttp2-client"
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null && command -v redis-cli >/dev/null \
  || die "redis missing: apt-get install -y redis-server redis-tools"
$PY -c 'import grpc' 2>/dev/null || die "python grpc missing: apt-get install -y python3-grpcio"

# ------------------------------------------------------------------ build
[[ -z "${MAIN:-}" ]] || BUILD="given: $MAIN"
build_main
[[ -z "${BASE_MAIN:-}" || -f "$BASE_MAIN" ]] || die "no $BASE_MAIN"
COMMIT="$(cd "$ROOT" && git rev-parse --short HEAD)"
SRC_DIRTY="$(cd "$ROOT" && git status --porcelain -- src proto | wc -l)"

# ------------------------------------------------------------------ keys and bodies
mapfile -t KEYLIST < <(for (( i=0; i < KEYS; i++ )); do printf 'bench:b:%03d\n' "$i"; done)
VAL="$(head -c "$VALUE" /dev/zero | tr '\0' v)"
KV=(); for k in "${KEYLIST[@]}"; do KV+=("$k" "$VAL"); done
B="$WORK/bodies"; mkdir -p "$B/one" "$B/quorum"
$PY "$HERE/bench/batch.py" bodies "$B/one" --value "$VALUE" "${KEYLIST[@]}"
$PY "$HERE/bench/batch.py" bodies "$B/quorum" --value "$VALUE" --consistency 2 "${KEYLIST[@]}"

# ------------------------------------------------------------------ redis
need_free "$REDIS_PORT"
start_bg redis "$WORK/redis.log" redis-server --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no \
  --protected-mode yes --daemonize no --dir "$WORK"
RPID=$STARTED_PID
wait_listen "$REDIS_PORT" "$RPID" 10 || die "redis did not start: $(tail -3 "$WORK/redis.log")"
rcli() { redis-cli -h "$HOST" -p "$REDIS_PORT" "$@"; }
[[ "$(rcli MSET "${KV[@]}")" == OK ]] || die "redis MSET failed"
[[ "$(rcli MGET "${KEYLIST[@]}" | grep -c "^$VAL\$")" == "$KEYS" ]] || die "redis MGET does not answer every value"
REDIS_VER="$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/redis \1/p')"
check "redis ($REDIS_VER, --save '' --appendonly no): MSET of the $KEYS keys -> OK; MGET -> all $KEYS values of $VALUE B"

# ------------------------------------------------------------------ nodes
node_check() {  # node_check TARGET BODYDIR -> sets EXP_MSET EXP_MGET (framed reply sizes)
  EXP_MSET="$($PY "$HERE/bench/batch.py" check "$1" MSet "$2/mset.bin" --value "$VALUE" "${KEYLIST[@]}")" || die "MSet check failed on $1"
  EXP_MGET="$($PY "$HERE/bench/batch.py" check "$1" MGet "$2/mget.bin" --value "$VALUE" "${KEYLIST[@]}")" || die "MGet check failed on $1"
}
start_single() {  # start_single NAME PORT MAIN -> STARTED_PID
  need_free "$2"
  start_bg "$1" "$WORK/$1.log" env LOG_LEVEL=warn ADDR="$HOST:$2" PEERS="$HOST:$2" node "$3"
  wait_listen "$2" "$STARTED_PID" 20 || die "$1 did not start: $(tail -3 "$WORK/$1.log")"
}
start_cluster() {  # start_cluster NAME MAIN PORT... -> CLUSTER_PIDS
  local name="$1" main="$2" p peers; shift 2
  need_free "$@"
  peers="$(printf "$HOST:%s," "$@")"; peers="${peers%,}"
  CLUSTER_PIDS=()
  for p in "$@"; do
    start_bg "$name:$p" "$WORK/$name-$p.log" env LOG_LEVEL=warn ADDR="$HOST:$p" PEERS="$peers" node "$main"
    CLUSTER_PIDS+=("$STARTED_PID")
  done
  local i=0; for p in "$@"; do wait_listen "$p" "${CLUSTER_PIDS[$i]}" 20 || die "$name node $p did not start"; i=$(( i + 1 )); done
  # shellcheck disable=SC2086
  (cd "$ROOT" && node --import tsx scripts/bench/wait-cluster.ts 3 ${peers//,/ }) >&2 || die "$name did not converge"
}

# ------------------------------------------------------------------ measuring
# A job is one figure: "SYSTEM|METHOD|TARGET|BODY|EXPECT_BYTES|SERVER_PIDS"; for redis TARGET is
# "redis" and BODY the command (MGET, MSET).
declare -A REDIS_N=()
redis_bench() {  # redis_bench CMD LOAD N OUTPREFIX -> CSV in OUTPREFIX.csv, CPU in OUTPREFIX.cpu
  local c m args TIMEFORMAT='%3U %3S'
  c="$(sed -n 's/.*-c \([0-9]*\).*/\1/p' <<<"$2")"; m="$(sed -n 's/.*-m \([0-9]*\).*/\1/p' <<<"$2")"
  if [[ "$1" == MGET ]]; then args=("${KEYLIST[@]}"); else args=("${KV[@]}"); fi
  _h2grpc_cpu_sample "$RPID" >"$4.cpu"
  { time redis-benchmark -h "$HOST" -p "$REDIS_PORT" -c "${c:-10}" -P "${m:-1}" -n "$3" --csv "$1" "${args[@]}" >"$4.csv" 2>"$4.err" ; } 2>"$4.gen" \
    || die "redis-benchmark failed: $(tail -3 "$4.err")"
  _h2grpc_cpu_sample "$RPID" >>"$4.cpu"; cat "$4.gen" >>"$4.cpu"
}
warm_up() {  # warm_up JOB LOAD
  local system method target body expect pids rps
  IFS='|' read -r system method target body expect pids <<<"$1"
  if [[ "$target" == redis ]]; then
    redis_bench "$body" "$2" "$([[ $body == MGET ]] && echo 20000 || echo 5000)" "$WORK/warm-$body"
    rps="$($PY "$BENCH/anchors_report.py" redisparse "$WORK/warm-$body.csv" | $PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["ops"])')"
    REDIS_N[$body/$2]="$($PY -c 'import sys; print(max(1000, int(float(sys.argv[1]) * float(sys.argv[2]))))' "$rps" "$DUR")"
    log "warm-up $system $method: $rps calls/s -> -n ${REDIS_N[$body/$2]} per run"
  else
    log "warm-up $system $method (${WARM}s)"
    # shellcheck disable=SC2086
    h2grpc "$target" "$CACHE_PATH/$method" "$body" $2 -D "$WARM" >/dev/null 2>&1 || die "warm-up failed: $system $method"
  fi
}
measure_one() {  # measure_one PHASE JOB LOAD ROUND -> sets DISTURBED
  local phase="$1" system method target body expect pids tag json st0 st1 t0 t1
  IFS='|' read -r system method target body expect pids <<<"$2"
  tag="$(tr -c 'A-Za-z0-9' '_' <<<"$system-$method-$3")-$4"
  st0="$(awk '/^cpu /{print $9; exit}' /proc/stat)"; t0="$(date +%s.%N)"
  if [[ "$target" == redis ]]; then
    redis_bench "$body" "$3" "${REDIS_N[$body/$3]}" "$WORK/$tag"
    json="$($PY "$BENCH/anchors_report.py" redisparse "$WORK/$tag.csv" --cpu "$WORK/$tag.cpu" | head -1)"
  else
    # shellcheck disable=SC2086
    json="$(H2GRPC_SERVER_PIDS="$pids" h2grpc_measure "$WORK/$tag" "$expect" "$target" "$CACHE_PATH/$method" "$body" $3 -D "$DUR")" \
      || die "h2load failed: $system $method $3 (see $WORK/$tag.txt)"
    rm -f "$WORK/$tag.tsv"
  fi
  st1="$(awk '/^cpu /{print $9; exit}' /proc/stat)"; t1="$(date +%s.%N)"
  json="$($PY -c '
import json, os, sys
d = json.loads(sys.argv[1])
d["steal_cpu"] = round((int(sys.argv[3]) - int(sys.argv[2])) / os.sysconf("SC_CLK_TCK") / (float(sys.argv[5]) - float(sys.argv[4])), 3)
o = d.get("other_cpu")
d.update(phase=sys.argv[6], system=sys.argv[7], method=sys.argv[8], load=sys.argv[9], round=int(sys.argv[10]),
         disturbed=o is not None and o > float(sys.argv[11]))
print(json.dumps(d))' "$json" "$st0" "$st1" "$t0" "$t1" "$phase" "$system" "$method" "$3" "$4" "$OTHER_MAX")"
  echo "$json" >>"$RESULTS"
  DISTURBED="$($PY -c 'import json,sys; print(str(json.loads(sys.argv[1])["disturbed"]).lower())' "$json")"
  log "  $system $method $3 round $4: $($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f calls/s = %.0f keys/s, p50 %s p99 %s ms, ok=%s srv=%s gen=%s other=%s steal=%s" % (d["ops"], d["ops"] * int(sys.argv[2]), d.get("p50_ms"), d.get("p99_ms"), d.get("ok"), d.get("srv_cpu"), d.get("gen_cpu"), d.get("other_cpu"), d.get("steal_cpu")))' "$json" "$KEYS")$([[ $DISTURBED == true ]] && echo ' (disturbed)')"
}
rounds() {  # rounds PHASE JOB...   (rounds until every job has RUNS clean runs, at most RUNS + EXTRA)
  local phase="$1" job load r i short; shift
  local -a clean
  for load in "${LOADS[@]}"; do
    for job in "$@"; do warm_up "$job" "$load"; done
    clean=(); for (( i=0; i < $#; i++ )); do clean[i]=0; done
    for (( r=1; r <= RUNS + EXTRA; r++ )); do
      i=0
      for job in "$@"; do
        measure_one "$phase" "$job" "$load" "$r"
        [[ "$DISTURBED" == true ]] || clean[i]=$(( clean[i] + 1 ))
        i=$(( i + 1 ))
      done
      short=false; for (( i=0; i < $#; i++ )); do (( clean[i] >= RUNS )) || short=true; done
      [[ "$short" == true ]] || break
      (( r >= RUNS && r < RUNS + EXTRA )) && log "  fewer than $RUNS clean runs for some figure: one more round"
    done
  done
  return 0
}

# ------------------------------------------------------------------ phase 1: one node
if [[ " $ONLY " == *" single "* ]]; then
  start_single node "$SINGLE_PORT" "$MAIN"; spid=$STARTED_PID
  node_check "$HOST:$SINGLE_PORT" "$B/one"
  check "one node: MSet of the $KEYS keys -> a version for each ($EXP_MSET B framed); MGet -> each found with its $VALUE B value ($EXP_MGET B)"
  MG=("tscache 1 node|MGet|$HOST:$SINGLE_PORT|$B/one/mget.bin|$EXP_MGET|$spid")
  MS=("tscache 1 node|MSet|$HOST:$SINGLE_PORT|$B/one/mset.bin|$EXP_MSET|$spid")
  if [[ -n "${BASE_MAIN:-}" ]]; then
    start_single node-base "$BASE_SINGLE_PORT" "$BASE_MAIN"; bpid=$STARTED_PID
    node_check "$HOST:$BASE_SINGLE_PORT" "$B/one"
    check "one node (base): MSet -> a version for each ($EXP_MSET B); MGet -> each found with its value ($EXP_MGET B)"
    MG+=("tscache 1 node (base)|MGet|$HOST:$BASE_SINGLE_PORT|$B/one/mget.bin|$EXP_MGET|$bpid")
    MS+=("tscache 1 node (base)|MSet|$HOST:$BASE_SINGLE_PORT|$B/one/mset.bin|$EXP_MSET|$bpid")
  fi
  rounds single "${MG[@]}" "redis|MGET|redis|MGET|0|$RPID" "${MS[@]}" "redis|MSET|redis|MSET|0|$RPID"
  node_check "$HOST:$SINGLE_PORT" "$B/one"
  check "one node after the runs: MSet and MGet of the $KEYS keys answered in full"
  stop_pid "$spid"
  if [[ -n "${bpid:-}" ]]; then stop_pid "$bpid"; fi
fi

# ------------------------------------------------------------------ phase 2: 3-node cluster, QUORUM
if [[ " $ONLY " == *" cluster "* ]]; then
  start_cluster cluster "$MAIN" "${CLUSTER_PORTS[@]}"; cpids=("${CLUSTER_PIDS[@]}")
  t="$HOST:${CLUSTER_PORTS[0]}"
  node_check "$t" "$B/quorum"
  check "3-node cluster: MSet QUORUM of the $KEYS keys via ${CLUSTER_PORTS[0]} -> a version for each ($EXP_MSET B); MGet QUORUM -> each found with its value ($EXP_MGET B)"
  $PY "$HERE/bench/batch.py" check "$HOST:${CLUSTER_PORTS[2]}" MGet "$B/quorum/mget.bin" --value "$VALUE" "${KEYLIST[@]}" >/dev/null \
    || die "MGet QUORUM via ${CLUSTER_PORTS[2]} failed"
  check "3-node cluster: MGet QUORUM via ${CLUSTER_PORTS[2]} -> each found with its value"
  MG=("tscache 3 nodes, QUORUM|MGet|$t|$B/quorum/mget.bin|$EXP_MGET|${cpids[*]}")
  MS=("tscache 3 nodes, QUORUM|MSet|$t|$B/quorum/mset.bin|$EXP_MSET|${cpids[*]}")
  if [[ -n "${BASE_MAIN:-}" ]]; then
    start_cluster cluster-base "$BASE_MAIN" "${BASE_CLUSTER_PORTS[@]}"; bpids=("${CLUSTER_PIDS[@]}")
    bt="$HOST:${BASE_CLUSTER_PORTS[0]}"
    node_check "$bt" "$B/quorum"
    check "3-node cluster (base): MSet QUORUM -> a version for each ($EXP_MSET B); MGet QUORUM -> each found ($EXP_MGET B)"
    MG+=("tscache 3 nodes, QUORUM (base)|MGet|$bt|$B/quorum/mget.bin|$EXP_MGET|${bpids[*]}")
    MS+=("tscache 3 nodes, QUORUM (base)|MSet|$bt|$B/quorum/mset.bin|$EXP_MSET|${bpids[*]}")
  fi
  rounds cluster "${MG[@]}" "redis|MGET|redis|MGET|0|$RPID" "${MS[@]}" "redis|MSET|redis|MSET|0|$RPID"
  node_check "$t" "$B/quorum"
  check "3-node cluster after the runs: MSet and MGet QUORUM of the $KEYS keys answered in full"
  for p in "${PIDS[@]}"; do [[ "$p" == "$RPID" ]] || stop_pid "$p"; done
fi
[[ "$(rcli MGET "${KEYLIST[@]}" | grep -c "^$VAL\$")" == "$KEYS" ]] || die "redis MGET after the runs does not answer every value"
check "redis after the runs: MGET -> all $KEYS values"
stop_all

# ------------------------------------------------------------------ report
$PY - "$WORK/meta.json" "$WORK/checks.txt" <<PYEOF
import json, os, subprocess, sys
sh = lambda c: subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
json.dump({"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "host": "Linux " + sh("uname -r"), "cpus": os.cpu_count(),
           "h2load": sh("h2load --version | head -1").replace("h2load ", ""), "node": sh("node --version"), "redis": "$REDIS_VER",
           "commit": "$COMMIT", "src_dirty": $SRC_DIRTY, "build": "$BUILD", "base": "${BASE_MAIN:-}",
           "keys": $KEYS, "value": $VALUE, "runs": $RUNS, "extra": $EXTRA, "warm": $WARM, "dur": $DUR, "other_max": $OTHER_MAX,
           "checks": [l.strip() for l in open(sys.argv[2]) if l.strip()]}, open(sys.argv[1], "w"))
PYEOF
MD="$OUTDIR/bench-batch-$STAMP.md"
$PY "$HERE/bench/batch.py" report "$RESULTS" "$WORK/meta.json" >"$MD"
cat "$MD"
log "table: $MD; raw runs: $WORK"
