#!/usr/bin/env bash
# Profile node(s) under h2load load: node --cpu-prof, then a self-time summary per process.
#   scripts/bench/profile.sh get|set [SECONDS=10] [H2LOAD_ARGS="-c 10 -m 10"]
#   NODES=3: a three-node cluster on loopback, load through the first node with QUORUM
#            (every node is profiled; the summary of each is printed)
#   SKIP=2: seconds of start-up left out of the summary
# Writes .bench/profile-<method>-<stamp>[-nodeN].cpuprofile and .txt. Stops every node by PID.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
BENCH="$(cd "$ROOT/../shared/bench" && pwd)"
METHOD="${1:-get}"; SECS="${2:-10}"; LOAD="${3:--c 10 -m 10}"
NODES="${NODES:-1}"; BASE="${PORT:-50191}"
STAMP="$(date +%Y%m%d-%H%M%S)"; OUT="$ROOT/.bench"; DIR="$OUT/profile-$METHOD-$STAMP"; mkdir -p "$DIR"
. "$BENCH/h2grpc.sh"
PIDS=()
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"; done
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  exit $rc
}
trap cleanup EXIT; trap 'exit 130' INT TERM
CONS=(); [[ "$NODES" -gt 1 ]] && CONS=(4:enum=2)
GCONS=(); [[ "$NODES" -gt 1 ]] && GCONS=(2:enum=2)
/usr/bin/python3 "$BENCH/grpc_body.py" encode -o "$DIR/set.bin" 1:string=bench:key '2:string=*100' "${CONS[@]+"${CONS[@]}"}" >/dev/null
/usr/bin/python3 "$BENCH/grpc_body.py" encode -o "$DIR/get.bin" 1:string=bench:key "${GCONS[@]+"${GCONS[@]}"}" >/dev/null
ADDRS=(); for i in $(seq 1 "$NODES"); do ADDRS+=("127.0.0.1:$(( BASE + i - 1 ))"); done
PEERS="$(IFS=,; echo "${ADDRS[*]}")"
for i in $(seq 1 "$NODES"); do
  mkdir -p "$DIR/node$i"
  LOG_LEVEL=warn ADDR="${ADDRS[$((i-1))]}" PEERS="$PEERS" node --cpu-prof --cpu-prof-dir="$DIR/node$i" "$ROOT/dist/main.js" >"$DIR/node$i.log" 2>&1 &
  PIDS+=($!)
done
T="${ADDRS[0]}"
if [[ "$NODES" -gt 1 ]]; then
  (cd "$ROOT" && node --import tsx scripts/bench/wait-cluster.ts "$NODES" "${ADDRS[@]}") >/dev/null
else
  for _ in $(seq 1 100); do [[ -n "$(ss -ltnH "sport = :$BASE")" ]] && break; sleep 0.1; done
fi
/usr/bin/python3 "$BENCH/grpc_body.py" call "$T" /cache.v1.CacheService/Set "$DIR/set.bin" >/dev/null
M=Get; [[ "$METHOD" == set ]] && M=Set
/usr/bin/python3 "$BENCH/grpc_body.py" call "$T" "/cache.v1.CacheService/$M" "$DIR/$METHOD.bin" >/dev/null || { echo "call failed" >&2; exit 1; }
# shellcheck disable=SC2086
H2GRPC_SERVER_PIDS="${PIDS[*]}" h2grpc_measure "$DIR/load" 0 "$T" "/cache.v1.CacheService/$M" "$DIR/$METHOD.bin" $LOAD -D "$SECS" | tee "$DIR/load.json"
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]}"; do wait "$pid" || true; done
PIDS=()
for i in $(seq 1 "$NODES"); do
  SUF=""; [[ "$NODES" -gt 1 ]] && SUF="-node$i"
  P="$(ls "$DIR/node$i"/*.cpuprofile | head -1)"
  mv "$P" "$OUT/profile-$METHOD-$STAMP$SUF.cpuprofile"
  echo "=== node $i (${ADDRS[$((i-1))]})"
  (cd "$ROOT" && node --import tsx scripts/bench/profile-summary.ts "$OUT/profile-$METHOD-$STAMP$SUF.cpuprofile" --skip "${SKIP:-2}") | tee "$OUT/profile-$METHOD-$STAMP$SUF.txt"
done
