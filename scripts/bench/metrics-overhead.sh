#!/usr/bin/env bash
# Cost of the Prometheus metrics on the hot path: scripts/bench/ab.sh with one node without
# METRICS_ADDR (off) and one with it (on). Same env knobs as ab.sh (ROUNDS, DUR, LOADS).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
A_NAME=off A_ENV="" B_NAME=on B_ENV="METRICS_ADDR=127.0.0.1:50193" "$HERE/ab.sh"
