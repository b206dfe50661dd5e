#!/usr/bin/env bash
# What TLS and tokens cost a single node (issue 13), all in ONE run on this machine.
# Three single nodes run side by side (and two bare servers, see ECHO below):
#   plain      no TLS, no tokens
#   token      plaintext + AUTH_TOKENS_FILE; every call carries a write token whose prefix
#              ("bench:") matches the key
#   tls+token  TLS (TLS_CERT/TLS_KEY/TLS_CA from scripts/dev-certs.sh) + the same tokens
# and, with ECHO=1 (default), the platform's own figure beside them: scripts/bench/echo.mjs, a
# bare grpc-js server answering each request's bytes untouched, plaintext (echo) and with TLS
# (echo+tls, the same certificate): what TLS costs a Node gRPC server that does nothing else.
# h2load Get (preloaded key, 100 B value) and Set (key + 100 B value; compare.sh's bodies) are
# run against each. A round = every load in LOADS x Get, Set x the three configurations, one
# after the other (Get plain, Get token, Get tls+token, Set plain, ...), -D DUR each; ROUNDS
# rounds. Each round has NEW node processes (FRESH=1), preloaded, checked and warmed up (WARM s
# of -c 10 -m 1 per configuration and method): an A/A test with ab.sh (two identical plain
# nodes) showed one process staying 10-15 % faster than its twin for its whole life, which a
# single set of processes would report as a difference between configurations.
# Reported per configuration: median ops/s, p50/p99 (h2load's per-request log), the node's CPU
# time per request (utime+stime from /proc), and the ratios token/plain and tls+token/plain by
# ops/s and by CPU per request (median/median, and the median of the per-round ratios), against
# the targets (tls+token >= 0.8x plain, token >= 0.95x plain).
#
# Targets are never measured answering errors: before the runs, each node gets one Set and one
# Get through python grpc with its credentials (grpc-status 0, the Get carries the value) plus
# negative controls (token nodes: no token / a wrong token -> UNAUTHENTICATED, a key outside the
# prefix -> PERMISSION_DENIED; the TLS node refuses plaintext), and every job one short h2load
# run with the exact headers/URL of the measured runs that must show the expected DATA bytes per
# reply (an error reply is trailers-only: 0 B); h2load without the token must be caught by that
# check. Every measured run is checked the same way (../shared/bench/h2grpc.sh: failed/errored/
# non-2xx counts, DATA bytes per request); a run that fails a check is listed under the table
# and the script exits 1.
#
# Measuring: ../shared/bench/h2grpc.sh's h2grpc_measure (ops/s, p50/p99, checks, CPU samples);
# its h2grpc is redefined below to also take a scheme (https for the TLS node: h2load does not
# verify the certificate) and an authorization header. A run during which other programs used
# more than OTHER_MAX cores is "disturbed"; while some figure has fewer than ROUNDS clean rounds,
# another round is run (at most EXTRA more). Medians use the clean rounds of a figure when there
# are any (a round's three runs are used or left out together, so they stay paired).
#
# usage: scripts/bench-auth.sh          (~4-5 minutes with the defaults on a quiet machine)
# env:   ROUNDS=3 DUR=5 WARM=2 LOADS="-c 50 -m 1;-c 10 -m 10" OTHER_MAX=0.15 EXTRA=2
#        FRESH=1      0: the same three node processes for every round
#        ORDER=fixed  rotate: round r starts with configuration (r-1) mod 3 (plain, token,
#                     tls+token; token, tls+token, plain; ...), to cancel position effects
#        ECHO=1       0: no echo and echo+tls servers
#        AA_TOKEN=0   1: the "token" node is a second plain node (no tokens file, no token sent):
#                     an A/A calibration showing what the method reads for no difference at all
#        BUILD=snapshot|dist|0   snapshot (default): compile src/ with tsc into the run's own
#          directory and run that (dist/ is left alone: other work in this checkout may be
#          running it); dist: `npm run build` then dist/main.js; 0: run dist/main.js as it is
# output: markdown on stdout and in .bench/bench-auth-<stamp>.md; raw runs, checks, calls, node
# logs, what else the machine was running (machine.txt) and report.py (remakes the table from
# results.jsonl) in .bench/bench-auth-<stamp>/
# Ports 50201 (plain), 50202 (token), 50203 (tls+token), 50204 (echo), 50205 (echo+tls) on 127.0.0.1 only. Every process it
# starts is stopped by its PID (trap on exit / Ctrl-C). Certificates and the tokens file are
# made in a temp dir, removed at the end.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BENCH="$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)" || { echo "bench-auth.sh: ../shared/bench not found next to the repo" >&2; exit 2; }
PY=/usr/bin/python3

ROUNDS="${ROUNDS:-3}"; DUR="${DUR:-5}"; WARM="${WARM:-2}"
OTHER_MAX="${OTHER_MAX:-0.15}"; EXTRA="${EXTRA:-2}"; BUILD="${BUILD:-snapshot}"; FRESH="${FRESH:-1}"; ORDER="${ORDER:-fixed}"; AA_TOKEN="${AA_TOKEN:-0}"; ECHO="${ECHO:-1}"
IFS=';' read -r -a LOADS <<<"${LOADS:--c 50 -m 1;-c 10 -m 10}"

HOST=127.0.0.1
CONFS=(plain token tls+token)
[[ "$ECHO" == 1 ]] && CONFS+=(echo echo+tls)
declare -A PORT=([plain]=50201 [token]=50202 [tls+token]=50203 [echo]=50204 [echo+tls]=50205)
KEY=bench:key
CACHE_PATH=/cache.v1.CacheService

STAMP="$(date +%Y%m%d-%H%M%S)"
OUTDIR="$ROOT/.bench"
WORK="$OUTDIR/bench-auth-$STAMP"
SECRETS="$(mktemp -d /tmp/tscache-bench-auth.XXXXXX)"
RESULTS="$WORK/results.jsonl"
mkdir -p "$WORK"; : >"$RESULTS"; : >"$WORK/checks.txt"
TCK="$(getconf CLK_TCK)"

# shellcheck source=/dev/null
. "$BENCH/h2grpc.sh"

# shellcheck source=bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  rm -rf "$SECRETS"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ h2load with a scheme and a token
# Redefines h2grpc.sh's h2grpc (h2grpc_measure calls it): H2_SCHEME (http|https) and H2_TOKEN
# (empty = no authorization header) are set per job by use_job.
H2_SCHEME=http; H2_TOKEN=""
h2grpc() {
  local target="$1" method="$2" body="$3"; shift 3
  _h2grpc_check_target "$target" || return 2
  [[ -f "$body" ]] || { echo "h2grpc: no body file $body" >&2; return 2; }
  local auth=()
  [[ -n "$H2_TOKEN" ]] && auth=(-H "authorization: Bearer $H2_TOKEN")
  ${H2GRPC_WRAP:-} h2load -H 'content-type: application/grpc' -H 'te: trailers' "${auth[@]+"${auth[@]}"}" \
    -d "$body" "$@" "${H2_SCHEME}://${target}${method}"
}

# A job is "CONF|METHOD|BODY|EXPECT_BYTES"; the configuration gives port, scheme, token, pid.
declare -A SCHEME=() TOKEN_OF=() NODE_PID=()
use_job() {  # use_job CONF -> H2_SCHEME, H2_TOKEN, JOB_TARGET, JOB_PID
  H2_SCHEME="${SCHEME[$1]}"; H2_TOKEN="${TOKEN_OF[$1]}"
  JOB_TARGET="$HOST:${PORT[$1]}"; JOB_PID="${NODE_PID[$1]}"
}

# ------------------------------------------------------------------ one call with credentials (python grpc)
# grpc_body.py call speaks plaintext without metadata; this one adds TLS (verifying the node's
# certificate against the CA) and the token, and says which grpc-status came back.
cat >"$WORK/call.py" <<'PYEOF'
import os, sys
sys.path.insert(0, os.environ["BENCH"])
import grpc
from grpc_body import unframe
target, method, body, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ca, token = os.environ.get("CALL_CA", ""), os.environ.get("CALL_TOKEN", "")
req = unframe(open(body, "rb").read())
ch = (grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read()))
      if ca else grpc.insecure_channel(target))
fn = ch.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
md = [("authorization", "Bearer " + token)] if token else None
try:
    resp, call = fn.with_call(req, timeout=5, metadata=md)
    code, details = call.code(), call.details()
except grpc.RpcError as e:
    resp, code, details = None, e.code(), e.details()
ch.close()
print(f"{target}{method} tls={'yes' if ca else 'no'} token={'yes' if token else 'no'}: grpc-status {code.value[0]} ({code.name})"
      + (f" details={details!r}" if details else "") + (f", response {len(resp)} B" if resp is not None else ""))
sys.exit(0 if code.value[0] == want else 1)
PYEOF
# call_expect CONF METHOD BODY WANT_STATUS [tls=auto|no] [token=auto|none|VALUE] -> framed reply size (5 + message)
call_expect() {
  local conf="$1" method="$2" body="$3" want="$4" tls="${5:-auto}" tok="${6:-auto}" ca="" out size
  [[ "$tls" == auto && "${SCHEME[$conf]}" == https ]] && ca="$SECRETS/certs/ca.pem"
  case "$tok" in auto) tok="${TOKEN_OF[$conf]}" ;; none) tok="" ;; esac
  out="$(BENCH="$BENCH" CALL_CA="$ca" CALL_TOKEN="$tok" $PY "$WORK/call.py" "$HOST:${PORT[$conf]}" "$method" "$body" "$want" 2>&1)" \
    || { echo "$out" >&2; die "$conf: $method did not answer grpc-status $want"; }
  echo "$conf: $out" >>"$WORK/calls.txt"
  size="$(sed -n 's/.*response \([0-9]*\) B.*/\1/p' <<<"$out")"
  echo $(( ${size:-0} + 5 ))
}

# ------------------------------------------------------------------ measuring
measure_one() {  # measure_one CONF METHOD BODY EXPECT LOAD ROUND -> DISTURBED, RUN_OK
  local conf="$1" method="$2" body="$3" expect="$4" load="$5" round="$6" tag json st0 st1 t0 t1
  use_job "$conf"
  tag="$(tr -c 'A-Za-z0-9' '_' <<<"$conf-$method-$load")-$round"
  st0="$(awk '/^cpu /{print $9; exit}' /proc/stat)"; t0="$(date +%s.%N)"
  # shellcheck disable=SC2086
  json="$(H2GRPC_SERVER_PIDS="$JOB_PID" h2grpc_measure "$WORK/$tag" "$expect" "$JOB_TARGET" "$CACHE_PATH/$method" "$body" $load -D "$DUR")" \
    || die "h2load failed: $conf $method $load (see $WORK/$tag.txt)"
  st1="$(awk '/^cpu /{print $9; exit}' /proc/stat)"; t1="$(date +%s.%N)"
  rm -f "$WORK/$tag.tsv"
  json="$($PY - "$json" "$WORK/$tag.cpu" "$WORK/$tag.txt" "$TCK" "$st0" "$st1" "$t0" "$t1" "$OTHER_MAX" \
           "$conf" "$method" "$load" "$round" <<'PYEOF'
import json, re, sys
d = json.loads(sys.argv[1])
cpu = [l.split() for l in open(sys.argv[2]) if l.strip()]
tck = int(sys.argv[4])
srv_ticks = int(float(cpu[1][0]) - float(cpu[0][0]))
d["srv_ticks"] = srv_ticks
d["cpu_us"] = round(srv_ticks / tck * 1e6 / d["succeeded"], 1) if d.get("succeeded") else None
d["steal_cpu"] = round((int(sys.argv[6]) - int(sys.argv[5])) / tck / (float(sys.argv[8]) - float(sys.argv[7])), 3)
o = d.get("other_cpu")
d["disturbed"] = o is not None and o > float(sys.argv[9])
m = re.search(r"TLS Protocol: (\S+)\s*\nCipher: (\S+)", open(sys.argv[3]).read())
if m: d["tls"] = f"{m.group(1)} {m.group(2)}"
d.update(conf=sys.argv[10], method=sys.argv[11], load=sys.argv[12], round=int(sys.argv[13]))
print(json.dumps(d))
PYEOF
)"
  echo "$json" >>"$RESULTS"
  read -r DISTURBED RUN_OK <<<"$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(str(d["disturbed"]).lower(), str(d["ok"]).lower())' "$json")"
  log "  $load round $round $method $conf: $($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f ops/s p50 %s p99 %s ms, %s us CPU/req, %s B/req, ok=%s%s srv=%s gen=%s other=%s steal=%s" % (d["ops"], d["p50_ms"], d["p99_ms"], d["cpu_us"], d["data_per_req"], d["ok"], "" if d["ok"] else " " + "; ".join(d["why"]), d.get("srv_cpu"), d.get("gen_cpu"), d.get("other_cpu"), d.get("steal_cpu")))' "$json")$([[ $DISTURBED == true ]] && echo ' (disturbed)')"
}

# ------------------------------------------------------------------ build
build_main
COMMIT="$(cd "$ROOT" && git rev-parse --short HEAD)"
SRC_DIRTY="$(cd "$ROOT" && git status --porcelain -- src proto | wc -l)"

# ------------------------------------------------------------------ certificates, tokens, bodies
command -v h2load >/dev/null || die "h2load missing: apt-get install -y nghttp2-client"
"$ROOT/scripts/dev-certs.sh" "$SECRETS/certs" >/dev/null || die "dev-certs.sh failed"
TOKEN="tscache-bench-$(openssl rand -hex 24)"
WRONG="tscache-bench-$(openssl rand -hex 24)"
printf '[{"name":"bench","role":"write","sha256":"%s","prefixes":["bench:"]}]\n' \
  "$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)" >"$SECRETS/tokens.json"

B="$WORK/bodies"; mkdir -p "$B"
$PY "$BENCH/grpc_body.py" encode -o "$B/set.bin" "1:string=$KEY" '2:string=*100' 2>/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/get.bin" "1:string=$KEY" 2>/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$B/get-other.bin" "1:string=other:key" 2>/dev/null

# ------------------------------------------------------------------ nodes
aa() { [[ "$1" == token && "$AA_TOKEN" == 1 ]]; }  # AA_TOKEN=1: the token node is a second plain node
is_echo() { [[ "$1" == echo* ]]; }
# what else the machine is doing: load average and the busiest processes over 1 s (names only)
machine() { echo "## $1"; date -u +%FT%TZ; uptime; top -b -n 2 -d 1 | awk '/^top -/{n++} n==2' | sed -n '7,16p'; }
machine start >"$WORK/machine.txt"
for conf in "${CONFS[@]}"; do port_free "${PORT[$conf]}" || die "port ${PORT[$conf]} is in use"; done
for conf in "${CONFS[@]}"; do
  SCHEME[$conf]=http; TOKEN_OF[$conf]=""
  [[ "$conf" != plain ]] && ! aa "$conf" && ! is_echo "$conf" && TOKEN_OF[$conf]="$TOKEN"
  [[ "$conf" == tls+token || "$conf" == echo+tls ]] && SCHEME[$conf]=https
done
start_nodes() {  # start_nodes GENERATION -> NODE_PID[conf]
  local conf p extra
  for conf in "${CONFS[@]}"; do
    p="${PORT[$conf]}"; extra=()
    if is_echo "$conf"; then
      [[ "$conf" == echo+tls ]] && extra+=("$SECRETS/certs/node.pem" "$SECRETS/certs/node.key")
      start_bg "$conf server $1" "$WORK/node-$conf-$1.log" node "$ROOT/scripts/bench/echo.mjs" "$HOST:$p" "${extra[@]+"${extra[@]}"}"
      NODE_PID[$conf]=$STARTED_PID
      continue
    fi
    [[ "$conf" != plain ]] && ! aa "$conf" && extra+=(AUTH_TOKENS_FILE="$SECRETS/tokens.json")
    [[ "$conf" == tls+token ]] && extra+=(TLS_CERT="$SECRETS/certs/node.pem" TLS_KEY="$SECRETS/certs/node.key" TLS_CA="$SECRETS/certs/ca.pem")
    start_bg "$conf node $1" "$WORK/node-$conf-$1.log" env LOG_LEVEL=warn ADDR="$HOST:$p" PEERS="$HOST:$p" "${extra[@]+"${extra[@]}"}" node "$MAIN"
    NODE_PID[$conf]=$STARTED_PID
  done
  for conf in "${CONFS[@]}"; do
    wait_listen "${PORT[$conf]}" "${NODE_PID[$conf]}" 20 || die "$conf node did not start: $(tail -3 "$WORK/node-$conf-$1.log")"
  done
}
stop_nodes() { local i; for (( i=${#CONFS[@]}-1; i>=0; i-- )); do stop_pid "${NODE_PID[${CONFS[$i]}]}"; done; }
# preload the key and check Set and Get answer grpc-status 0 with the expected reply sizes
preload() {
  local conf s g
  for conf in "${CONFS[@]}"; do
    s="$(call_expect "$conf" "$CACHE_PATH/Set" "$B/set.bin" 0)"; g="$(call_expect "$conf" "$CACHE_PATH/Get" "$B/get.bin" 0)"
    [[ "$s" == "${EXPECT[$conf/Set]}" && "$g" == "${EXPECT[$conf/Get]}" ]] || die "$conf: replies of $s/$g B, expected ${EXPECT[$conf/Set]}/${EXPECT[$conf/Get]}"
  done
}
warm_up() {
  local conf method
  for conf in "${CONFS[@]}"; do
    for method in Get Set; do
      use_job "$conf"
      h2grpc "$JOB_TARGET" "$CACHE_PATH/$method" "$B/$(tr 'A-Z' 'a-z' <<<"$method").bin" -c 10 -m 1 -D "$WARM" >/dev/null 2>&1 \
        || die "warm-up failed: $conf $method"
    done
  done
}
start_nodes 1

# ------------------------------------------------------------------ checks before measuring
declare -A EXPECT=()
for conf in "${CONFS[@]}"; do
  set_b="$(call_expect "$conf" "$CACHE_PATH/Set" "$B/set.bin" 0)"
  get_b="$(call_expect "$conf" "$CACHE_PATH/Get" "$B/get.bin" 0)"
  EXPECT[$conf/Set]=$set_b; EXPECT[$conf/Get]=$get_b
  if is_echo "$conf"; then
    [[ "$set_b" == "$(stat -c %s "$B/set.bin")" && "$get_b" == "$(stat -c %s "$B/get.bin")" ]] || die "$conf: replies of $set_b/$get_b B are not the requests"
    check "$conf: Set and Get answer grpc-status 0 with the request's bytes$([[ "$conf" == echo+tls ]] && echo '; the certificate verifies against the CA')"
    continue
  fi
  (( get_b >= 110 )) || die "$conf: Get reply is only $get_b B: the 100 B value is not there"
  msg="$conf: Set -> grpc-status 0 ($set_b B framed), Get of the preloaded key -> grpc-status 0 ($get_b B, carries the value)"
  if [[ "$conf" == plain ]] || aa "$conf"; then
    call_expect "$conf" "$CACHE_PATH/Get" "$B/get.bin" 0 auto none >/dev/null
  else
    call_expect "$conf" "$CACHE_PATH/Get" "$B/get.bin" 16 auto none >/dev/null
    call_expect "$conf" "$CACHE_PATH/Get" "$B/get.bin" 16 auto "$WRONG" >/dev/null
    call_expect "$conf" "$CACHE_PATH/Get" "$B/get-other.bin" 7 >/dev/null
    msg+="; without a token and with a wrong one -> UNAUTHENTICATED; key outside the prefix -> PERMISSION_DENIED"
  fi
  if [[ "$conf" == tls+token ]]; then
    if BENCH="$BENCH" CALL_TOKEN="$TOKEN" $PY "$WORK/call.py" "$HOST:${PORT[$conf]}" "$CACHE_PATH/Get" "$B/get.bin" 0 >>"$WORK/calls.txt" 2>&1; then
      die "$conf: a plaintext call succeeded: TLS is not on"
    fi
    msg+="; the certificate verifies against the CA for 127.0.0.1; a plaintext call fails"
  fi
  check "$msg"
done
# h2load itself, with the exact URL and headers of the measured runs: short runs that must pass
# every check of h2grpc_measure (expected DATA bytes per reply, no failed/errored/non-2xx).
for conf in "${CONFS[@]}"; do
  for method in Get Set; do
    use_job "$conf"
    body="$B/$(tr 'A-Z' 'a-z' <<<"$method").bin"
    json="$(h2grpc_measure "$WORK/precheck-$conf-$method" "${EXPECT[$conf/$method]}" "$JOB_TARGET" "$CACHE_PATH/$method" "$body" -n 200 -c 2 -m 1)" \
      || die "h2load pre-check failed: $conf $method"
    $PY -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["ok"] and d["succeeded"]==200 else 1)' "$json" \
      || die "h2load pre-check $conf $method: $json"
  done
done
check "h2load with each configuration's URL and headers: Get and Set, 200 requests each, all 2xx, expected DATA bytes per reply ($(for c in "${CONFS[@]}"; do printf '%s Get %s B / Set %s B; ' "$c" "${EXPECT[$c/Get]}" "${EXPECT[$c/Set]}"; done | sed 's/; $//'))"
# negative control: the same h2load check must catch a node answering UNAUTHENTICATED
use_job tls+token; H2_TOKEN=""
json="$(h2grpc_measure "$WORK/precheck-tls-notoken" "${EXPECT[tls+token/Get]}" "$JOB_TARGET" "$CACHE_PATH/Get" "$B/get.bin" -n 200 -c 2 -m 1)" || true
$PY -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if not d["ok"] and d["data_per_req"] < 5 else 1)' "$json" \
  || die "the h2load check did not catch UNAUTHENTICATED answers: $json"
check "negative control: h2load without the token against the tls+token node -> flagged ($($PY -c 'import json,sys; print("; ".join(json.loads(sys.argv[1])["why"]))' "$json"))"
aa token && check "AA_TOKEN=1: the 'token' node runs exactly like plain (no AUTH_TOKENS_FILE, no token sent): an A/A calibration of the token column"

# ------------------------------------------------------------------ runs
# A round = every load x method x configuration once. With FRESH=1 every round has new node
# processes (preloaded, checked and warmed up again): one process can stay faster or slower
# than an identical one for its whole life (JIT, heap layout), which a single set of processes
# would turn into a false difference between the configurations.
log "warm-up (${WARM}s per configuration and method)"; warm_up
FAILED_RUNS=0
declare -A CLEAN=()
for (( r=1; r <= ROUNDS + EXTRA; r++ )); do
  if (( r > 1 )) && [[ "$FRESH" == 1 ]]; then
    stop_nodes; start_nodes "$r"; preload; log "round $r: fresh nodes, preloaded; warm-up"; warm_up
  fi
  for load in "${LOADS[@]}"; do
    for method in Get Set; do
      body="$B/$(tr 'A-Z' 'a-z' <<<"$method").bin"; bad=false
      order=("${CONFS[@]}")
      if [[ "$ORDER" == rotate ]]; then  # round r starts with configuration (r-1) mod 3
        k=$(( (r - 1) % ${#CONFS[@]} )); order=("${CONFS[@]:$k}" "${CONFS[@]:0:$k}")
      fi
      for conf in "${order[@]}"; do
        measure_one "$conf" "$method" "$body" "${EXPECT[$conf/$method]}" "$load" "$r"
        [[ "$DISTURBED" == true ]] && bad=true
        [[ "$RUN_OK" == true ]] || FAILED_RUNS=$(( FAILED_RUNS + 1 ))
      done
      [[ "$bad" == false ]] && CLEAN[$load/$method]=$(( ${CLEAN[$load/$method]:-0} + 1 ))
    done
  done
  done_all=true
  for load in "${LOADS[@]}"; do for method in Get Set; do
    (( ${CLEAN[$load/$method]:-0} >= ROUNDS )) || done_all=false
  done; done
  [[ "$done_all" == true ]] && break
  (( r >= ROUNDS )) && (( r < ROUNDS + EXTRA )) && log "fewer than $ROUNDS clean rounds for some figure: one more round"
done
for conf in "${CONFS[@]}"; do
  call_expect "$conf" "$CACHE_PATH/Get" "$B/get.bin" 0 >/dev/null
done
check "after the runs: Get on each node -> grpc-status 0"
[[ "$FRESH" == 1 ]] && check "fresh node processes every round: each preloaded with Set, Get -> grpc-status 0 with the same reply sizes, warmed up"
machine end >>"$WORK/machine.txt"
stop_nodes

# ------------------------------------------------------------------ report
cat >"$WORK/meta.json" <<EOF
{"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "host": "Linux $(uname -r)", "cpus": $(nproc),
 "h2load": "$(h2load --version | head -1 | sed 's/^h2load //')", "node": "$(node --version)",
 "openssl": "$(openssl version | cut -d' ' -f1-2)", "commit": "$COMMIT", "src_dirty": $SRC_DIRTY, "build": "$BUILD",
 "rounds": $ROUNDS, "extra": $EXTRA, "fresh": $FRESH, "order": "$ORDER", "aa_token": $AA_TOKEN, "dur": $DUR, "warm": $WARM, "other_max": $OTHER_MAX,
 "load_start": "$(sed -n 3p "$WORK/machine.txt" | sed 's/.*load average: //')",
 "load_end": "$(grep -A2 '^## end' "$WORK/machine.txt" | tail -1 | sed 's/.*load average: //')"}
EOF
MD="$OUTDIR/bench-auth-$STAMP.md"
# (the report is kept as $WORK/report.py: `python3 report.py results.jsonl meta.json checks.txt` remakes it)
cat >"$WORK/report.py" <<'PYEOF'
import json, statistics, sys
from collections import OrderedDict
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = json.load(open(sys.argv[2]))
checks = [l.strip() for l in open(sys.argv[3]) if l.strip()]
CONFS = [c for c in ["plain", "token", "tls+token", "echo", "echo+tls"] if any(r["conf"] == c for r in rows)]
TARGET = {"token": 0.95, "tls+token": 0.8}
# each configuration's baseline; echo+tls against echo is no target: what TLS costs the platform itself
BASE = {"token": "plain", "tls+token": "plain", "echo+tls": "echo"}
label = lambda c: "token (A/A: a 2nd plain node)" if c == "token" and meta.get("aa_token") else c
med = lambda v: statistics.median(v) if v else None
def fmt(x, nd=0): return "-" if x is None else f"{x:,.{nd}f}"

groups = OrderedDict()  # (load, method) -> round -> conf -> row
for r in rows:
    groups.setdefault((r["load"], r["method"]), {}).setdefault(r["round"], {})[r["conf"]] = r
out, summary = [], []
out.append(f"Measured {meta['date']} on {meta['host']} ({meta['cpus']} CPUs shared by h2load and the nodes), commit {meta['commit']}"
           + (f" (+{meta['src_dirty']} uncommitted files in src/ or proto/)" if meta["src_dirty"] else "")
           + f"; h2load {meta['h2load']}, node {meta['node']}, {meta['openssl']}. Load average at start {meta['load_start']}, at end {meta['load_end']}.")
tls = sorted({r["tls"] for r in rows if r.get("tls")})
out.append(f"Each figure: {meta['warm']} s warm-up (`-c 10 -m 1`), then {meta['rounds']} rounds of `-D {meta['dur']}` (up to {meta['extra']} more if a round was disturbed), "
           + (f"the servers loaded one after the other within each round (Get: {', '.join(CONFS)}; then Set)" if meta.get("order") != "rotate"
            else f"the servers loaded one after the other within each round, Get then Set, the order rotating from round to round (from {', '.join(CONFS)})")
           + ("; new node processes every round (preloaded, checked, warmed up again)" if meta.get("fresh") else "; the same node processes throughout")
           + ". Medians over the clean rounds "
           f"(no run with other programs above {meta['other_max']} cores), over all rounds if none was clean. "
           "CPU/req = the node's user+system CPU time (/proc) per completed request. "
           "x plain: ops/s median over plain's median (paired: median of the per-round ratios); by CPU: plain's CPU/req over this one's (1.00 = same cost, <1 = dearer); echo+tls is against echo (scripts/bench/echo.mjs: a bare grpc-js server answering the request's bytes). "
           "CPU in cores: node / h2load / everything else / steal."
           + (f" TLS as negotiated by h2load: {', '.join(tls)}." if tls else ""))
out.append("")
out.append("| load | method | config | ops/s (median) | min-max | p50 ms | p99 ms | CPU/req µs (median) | x plain (echo) by ops/s (paired) | x plain (echo) by CPU/req (paired) | target | CPU node / h2load / other / steal | rounds used |")
out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
bad_runs = []
for (load, method), rounds in groups.items():
    complete = {k: v for k, v in rounds.items() if all(c in v for c in CONFS)}
    clean = {k: v for k, v in complete.items() if not any(v[c]["disturbed"] for c in CONFS)}
    use = clean or complete
    fig = {}
    for c in CONFS:
        rs = [use[k][c] for k in sorted(use)]
        fig[c] = {"ops": med([x["ops"] for x in rs]), "min": min(x["ops"] for x in rs), "max": max(x["ops"] for x in rs),
                  "p50": med([x["p50_ms"] for x in rs if x["p50_ms"] is not None]), "p99": med([x["p99_ms"] for x in rs if x["p99_ms"] is not None]),
                  "cpu": med([x["cpu_us"] for x in rs if x["cpu_us"]]),
                  "srv": med([x["srv_cpu"] for x in rs if x.get("srv_cpu") is not None]), "gen": med([x["gen_cpu"] for x in rs]),
                  "other": med([x["other_cpu"] for x in rs if x.get("other_cpu") is not None]), "steal": med([x["steal_cpu"] for x in rs])}
        bad_runs += [f"{load} {method} {c} round {v[c]['round']}: {'; '.join(v[c]['why'])}" for v in rounds.values() if c in v and not v[c]["ok"]]
    for c in CONFS:
        f = fig[c]; ratio = cpu_ratio = target = ""
        if c in BASE:
            b = BASE[c]; p = fig[b]
            ro = f["ops"] / p["ops"]
            po = med([use[k][c]["ops"] / use[k][b]["ops"] for k in use if use[k][b]["ops"]])
            rc = p["cpu"] / f["cpu"] if f["cpu"] and p["cpu"] else None
            pc = med([use[k][b]["cpu_us"] / use[k][c]["cpu_us"] for k in use if use[k][c]["cpu_us"] and use[k][b]["cpu_us"]])
            ratio = f"{ro:.2f}x ({po:.2f})"
            cpu_ratio = f"{rc:.2f}x ({pc:.2f})" if rc else "-"
            t = TARGET.get(c)
            target = f"≥ {t}: ops {'✓' if ro >= t else '✗'}, CPU {'✓' if rc and rc >= t else '✗'}" if t else "(x echo: the platform's own TLS cost)"
            summary.append((load, method, c, ro, po, rc, pc, t))
        out.append(f"| `{load}` | {method} | {label(c)} | {fmt(f['ops'])} | {fmt(f['min'])}-{fmt(f['max'])} | {fmt(f['p50'], 2)} | {fmt(f['p99'], 2)} | "
                   f"{fmt(f['cpu'], 1)} | {ratio} | {cpu_ratio} | {target} | "
                   f"{fmt(f['srv'], 2)} / {fmt(f['gen'], 2)} / {fmt(f['other'], 2)} / {fmt(f['steal'], 2)} | "
                   f"{len(use)} of {len(rounds)}{'' if clean else ' (all disturbed)'} |")
out.append("")
out.append("Targets (issue 13), ratio to plain of the same run, median (paired); echo+tls x echo beside them, for reference:")
out.append("")
out.append("| load | method | config | target | by ops/s | by CPU/req | met |")
out.append("|---|---|---|---:|---:|---:|---|")
for load, method, c, ro, po, rc, pc, t in summary:
    met = f"{'yes' if ro >= t else 'no'} by ops/s, {'yes' if rc and rc >= t else 'no'} by CPU" if t else "(reference)"
    out.append(f"| `{load}` | {method} | {label(c)} | {f'≥ {t}x' if t else '-'} | {ro:.2f}x ({po:.2f}) | {fmt(rc, 2)}x ({fmt(pc, 2)}) | {met} |")
out.append("")
out.append("Per round (ops/s, CPU/req µs; * = disturbed):")
out.append("")
for (load, method), rounds in groups.items():
    cells = []
    for k in sorted(rounds):
        cells.append(f"r{k}: " + ", ".join(f"{c} {rounds[k][c]['ops']:,.0f}/{rounds[k][c]['cpu_us']}{'*' if rounds[k][c]['disturbed'] else ''}" for c in CONFS if c in rounds[k]))
    out.append(f"- `{load}` {method}: " + "; ".join(cells))
out.append("")
out.append("Checks: " + "; ".join(checks))
if bad_runs:
    out.append("")
    out.append("**Runs that failed a check (errors may have been measured):** " + "; ".join(bad_runs))
print("\n".join(out))
PYEOF
$PY "$WORK/report.py" "$RESULTS" "$WORK/meta.json" "$WORK/checks.txt" >"$MD"
cat "$MD"
log "table: $MD; raw runs: $WORK"
(( FAILED_RUNS == 0 )) || die "$FAILED_RUNS measured run(s) failed a check (see the table)"
