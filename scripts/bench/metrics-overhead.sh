#!/usr/bin/env bash
# Cost of the Prometheus metrics on the hot path: two single nodes, one with METRICS_ADDR
# set and one without, loaded alternately with the same h2load Get/Set (3 rounds each,
# -c 10 -m 10, -D 5). Prints ops/s per round and the medians. Processes are stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH="$ROOT/../shared/bench"
PY=/usr/bin/python3
OUT="$ROOT/.bench/metrics-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
LOG_LEVEL=warn ADDR=127.0.0.1:50191 node "$ROOT/dist/main.js" >"$OUT/off.log" 2>&1 & PIDS+=($!)
LOG_LEVEL=warn ADDR=127.0.0.1:50192 METRICS_ADDR=127.0.0.1:50193 node "$ROOT/dist/main.js" >"$OUT/on.log" 2>&1 & PIDS+=($!)
sleep 1.5
$PY "$BENCH/grpc_body.py" encode -o "$OUT/set.bin" 1:string=bench-key '2:string=*100' >/dev/null
$PY "$BENCH/grpc_body.py" encode -o "$OUT/get.bin" 1:string=bench-key >/dev/null
for port in 50191 50192; do $PY "$BENCH/grpc_body.py" call 127.0.0.1:$port /cache.v1.CacheService/Set "$OUT/set.bin" >/dev/null; done
ops() { grep -o 'finished in [^,]*, [0-9.]* req/s' "$1" | awk '{print $(NF-1)}'; }
for method in Get Set; do
  body="$OUT/$(echo "$method" | tr 'A-Z' 'a-z').bin"
  for r in 1 2 3; do
    for mode in off on; do
      port=50191; [[ $mode == on ]] && port=50192
      h2load -H 'content-type: application/grpc' -H 'te: trailers' -d "$body" -c 10 -m 10 -D 5 \
        "http://127.0.0.1:$port/cache.v1.CacheService/$method" >"$OUT/$method-$mode-$r.txt" 2>&1
      echo "$method metrics=$mode round $r: $(ops "$OUT/$method-$mode-$r.txt") req/s"
    done
  done
done | tee "$OUT/summary.txt"
for method in Get Set; do for mode in off on; do
  med=$(grep "^$method metrics=$mode " "$OUT/summary.txt" | awk '{print $(NF-1)}' | sort -n | sed -n 2p)
  echo "$method metrics=$mode median: $med req/s"
done; done
curl -s "http://127.0.0.1:50193/metrics" | grep -c '^cache_' | xargs echo "cache_* series exposed by the metrics node:"
