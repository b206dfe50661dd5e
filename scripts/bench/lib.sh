#!/usr/bin/env bash
# Shared by the benchmark scripts (compare.sh, bench-auth.sh): log lines, checks, and the
# processes a script starts, recorded and stopped by their PIDs only. Source it after setting
# WORK (check() appends to $WORK/checks.txt); the script keeps its own cleanup trap, which
# calls stop_all.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
check() { echo "$*" >>"$WORK/checks.txt"; log "check: $*"; }

# ------------------------------------------------------------------ processes (by PID only)
declare -a PIDS=()
declare -A PIDNAME=()
start_bg() {  # start_bg NAME LOG cmd...   -> STARTED_PID
  local name="$1" logf="$2"; shift 2
  "$@" >"$logf" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID"); PIDNAME[$STARTED_PID]="$name"
  log "started $name pid=$STARTED_PID"
}
stop_pid() {
  local pid="$1" i
  [[ -n "${PIDNAME[$pid]:-}" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid (${PIDNAME[$pid]}) ignored TERM for 15 s; KILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  wait "$pid" 2>/dev/null || true
  log "stopped ${PIDNAME[$pid]} pid=$pid"
  unset "PIDNAME[$pid]"
  local keep=() p
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}
stop_all() { local i; for (( i=${#PIDS[@]}-1; i>=0; i-- )); do stop_pid "${PIDS[$i]}"; done; return 0; }

port_free() { [[ -z "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]]; }
need_free() { local p; for p in "$@"; do port_free "$p" || die "port $p is in use"; done; }
wait_listen() {  # wait_listen PORT PID SECONDS
  local i; for i in $(seq 1 $(( $3 * 10 ))); do
    port_free "$1" || return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done; return 1
}

# ------------------------------------------------------------------ the node build to measure
# build_main: sets MAIN (unless already set) per BUILD: dist = `npm run build`, then dist/;
# snapshot = the run's own compiled copy of src/ in $WORK/build (dist/ is not rewritten under
# other work that runs it; build/dist + build/proto mirror the repo because
# src/protos/protos.ts finds the .proto files at ../../proto from its compiled file;
# node_modules is found up the tree); anything else = the existing dist/. Needs ROOT and WORK.
build_main() {
  if [[ -z "${MAIN:-}" ]]; then
    if [[ "$BUILD" == dist ]]; then
      log "npm run build"; (cd "$ROOT" && npm run build --silent) || die "build failed"
      MAIN="$ROOT/dist/main.js"
    elif [[ "$BUILD" == snapshot ]]; then
      [[ -d "$ROOT/src/protos/generated" ]] || { log "npm run gen"; (cd "$ROOT" && npm run gen --silent) || die "npm run gen failed"; }
      log "tsc -> $WORK/build/dist"
      (cd "$ROOT" && node_modules/.bin/tsc -p tsconfig.json --outDir "$WORK/build/dist" --declaration false --sourceMap false) || die "tsc failed"
      ln -s "$ROOT/proto" "$WORK/build/proto"
      MAIN="$WORK/build/dist/main.js"
    else
      MAIN="$ROOT/dist/main.js"
    fi
  fi
  [[ -f "$MAIN" ]] || die "no $MAIN (npm run build?)"
}
