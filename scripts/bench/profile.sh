#!/usr/bin/env bash
# Profile one node under h2load load: node --cpu-prof, then a self-time summary.
#   scripts/bench/profile.sh get|set [SECONDS=10] [H2LOAD_ARGS="-c 10 -m 10"]
#   SKIP=2: seconds of start-up left out of the summary
# Writes .bench/profile-<method>-<stamp>.cpuprofile and .txt (summary). Stops the node by PID.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
BENCH="$(cd "$ROOT/../shared/bench" && pwd)"
METHOD="${1:-get}"; SECS="${2:-10}"; LOAD="${3:--c 10 -m 10}"
PORT="${PORT:-50191}"; T="127.0.0.1:$PORT"
STAMP="$(date +%Y%m%d-%H%M%S)"; OUT="$ROOT/.bench"; DIR="$OUT/profile-$METHOD-$STAMP"; mkdir -p "$DIR"
. "$BENCH/h2grpc.sh"
PID=""
cleanup() { local rc=$?; if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$PID" 2>/dev/null || true; fi; exit $rc; }
trap cleanup EXIT; trap 'exit 130' INT TERM
/usr/bin/python3 "$BENCH/grpc_body.py" encode -o "$DIR/set.bin" 1:string=bench:key '2:string=*100' >/dev/null
/usr/bin/python3 "$BENCH/grpc_body.py" encode -o "$DIR/get.bin" 1:string=bench:key >/dev/null
LOG_LEVEL=warn ADDR="$T" PEERS="$T" node --cpu-prof --cpu-prof-dir="$DIR" "$ROOT/dist/main.js" >"$DIR/node.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do [[ -n "$(ss -ltnH "sport = :$PORT")" ]] && break; sleep 0.1; done
/usr/bin/python3 "$BENCH/grpc_body.py" call "$T" /cache.v1.CacheService/Set "$DIR/set.bin" >/dev/null
M=Get; [[ "$METHOD" == set ]] && M=Set
/usr/bin/python3 "$BENCH/grpc_body.py" call "$T" "/cache.v1.CacheService/$M" "$DIR/$METHOD.bin" >/dev/null || { echo "call failed" >&2; exit 1; }
# shellcheck disable=SC2086
H2GRPC_SERVER_PIDS="$PID" h2grpc_measure "$DIR/load" 0 "$T" "/cache.v1.CacheService/$M" "$DIR/$METHOD.bin" $LOAD -D "$SECS" | tee "$DIR/load.json"
kill -TERM "$PID"; wait "$PID" || true; PID=""
P="$(ls "$DIR"/*.cpuprofile | head -1)"
mv "$P" "$OUT/profile-$METHOD-$STAMP.cpuprofile"
(cd "$ROOT" && node --import tsx scripts/bench/profile-summary.ts "$OUT/profile-$METHOD-$STAMP.cpuprofile" --skip "${SKIP:-2}") | tee "$OUT/profile-$METHOD-$STAMP.txt"
