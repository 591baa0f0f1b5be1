#!/usr/bin/env bash
# Availability during applies: a client loop opening connections through the
# client's SOCKS port while 20 applies run, for xp2p (staged replace + drain) and
# for a naive stop-then-start of the same core. Prints one JSON line per figure.
# Usage: scripts/bench/apply-availability.sh [APPLIES]   (needs v2ray, openssl)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release --bin xp2p
exec python3 scripts/bench/apply_availability.py "$PWD/target/release/xp2p" "${1:-20}"
