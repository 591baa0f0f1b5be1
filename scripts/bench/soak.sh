#!/usr/bin/env bash
# Soak: N applies in a row (default 1000) against real cores (client + server on
# loopback). Samples the service's RSS, open fds and child processes after every
# apply; prints start/end/max as JSON and exits 1 if any of them grows.
# Usage: scripts/bench/soak.sh [N] [DRAIN_MS]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release --bin xp2p
exec python3 scripts/bench/soak.py "$PWD/target/release/xp2p" "${1:-1000}" "${2:-200}"
