#!/usr/bin/env bash
# A/B of two single-node configurations under the same h2load Get/Set load. Both nodes run
# side by side and are loaded alternately (A, B, A, B, ...), ROUNDS rounds of -D DUR per
# load, so both see the same machine conditions. Prints ops/s and the node's CPU time per
# request (user + system, from /proc: far less sensitive to other load on the machine than
# ops/s) per round, and the medians of both.
#   A_NAME=off A_ENV="" A_FLAGS=""   B_NAME=on B_ENV="METRICS_ADDR=127.0.0.1:50193" B_FLAGS=""
#   ROUNDS=3 DUR=5 LOADS="-c 10 -m 10"   (several loads separated by ';')
# *_ENV: extra VAR=value words for the node; *_FLAGS: node (V8) flags, e.g. --optimize-for-size;
# *_MAIN: the entry point to run (default dist/main.js; a copy of an older build compares builds).
# Ports 50191 (A) and 50192 (B), 127.0.0.1 only. Both nodes are stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH="$ROOT/../shared/bench"
PY=/usr/bin/python3
A_NAME="${A_NAME:-A}"; B_NAME="${B_NAME:-B}"
ROUNDS="${ROUNDS:-3}"; DUR="${DUR:-5}"
IFS=';' read -r -a LOADS <<<"${LOADS:--c 10 -m 10}"
OUT="$ROOT/.bench/ab-$A_NAME-$B_NAME-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
PIDS=()
cleanup() {
  local p; for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
start() {  # start NAME PORT ENV FLAGS MAIN
  # shellcheck disable=SC2086
  env LOG_LEVEL=warn ADDR="127.0.0.1:$2" $3 node $4 "$5" >"$OUT/$1.log" 2>&1 &
  PIDS+=($!)
}
start "$A_NAME" 50191 "${A_ENV:-}" "${A_FLAGS:-}" "${A_MAIN:-$ROOT/dist/main.js}"
start "$B_NAME" 50192 "${B_ENV:-}" "${B_FLAGS:-}" "${B_MAIN:-$ROOT/dist/main.js}"
for port in 50191 50192; do
  for _ in $(seq 1 100); do [[ -n "$(ss -ltnH "sport = :$port")" ]] && break; sleep 0.1; done
done
$PY "$BENCH/grpc_body.py" encode -o "$OUT/set.bin" 1:string=bench-key '2:string=*100' >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$OUT/get.bin" 1:string=bench-key >/dev/null
for port in 50191 50192; do $PY "$BENCH/grpc_body.py" call 127.0.0.1:$port /cache.v1.CacheService/Set "$OUT/set.bin" >/dev/null; done
ops() { grep -o 'finished in [^,]*, [0-9.]* req/s' "$1" | awk '{print $(NF-1)}'; }
done_reqs() { grep -o 'requests: .* succeeded' "$1" | awk '{print $(NF-1)}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
for load in "${LOADS[@]}"; do
  tag="$(tr -c 'a-z0-9' '_' <<<"$load")"
  for method in Get Set; do
    body="$OUT/$(echo "$method" | tr 'A-Z' 'a-z').bin"
    for r in $(seq 1 "$ROUNDS"); do
      for mode in "$A_NAME" "$B_NAME"; do
        port=50191; pid=${PIDS[0]}
        [[ $mode == "$B_NAME" ]] && { port=50192; pid=${PIDS[1]}; }
        f="$OUT/$method-$mode-$tag-$r.txt"
        t0=$(cpu_ticks "$pid")
        # shellcheck disable=SC2086
        h2load -H 'content-type: application/grpc' -H 'te: trailers' -d "$body" $load -D "$DUR" \
          "http://127.0.0.1:$port/cache.v1.CacheService/$method" >"$f" 2>&1
        us=$(awk -v d="$(( $(cpu_ticks "$pid") - t0 ))" -v n="$(done_reqs "$f")" -v t="$TCK" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
        echo "[$load] $method $mode round $r: $(ops "$f") req/s, $us us CPU/req"
      done
    done
  done
done | tee "$OUT/summary.txt"
for load in "${LOADS[@]}"; do for method in Get Set; do for mode in "$A_NAME" "$B_NAME"; do
  rounds=$(grep -F "[$load] $method $mode round" "$OUT/summary.txt")
  med=$(awk '{print $(NF-4)}' <<<"$rounds" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(awk '{print $(NF-2)}' <<<"$rounds" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "[$load] $method $mode median: $med req/s, $cpu us CPU/req"
done; done; done | tee -a "$OUT/summary.txt"
