#!/usr/bin/env bash
# The demo on a fresh Debian machine: installs a core (Debian's v2ray) when none is
# found, builds xp2p, and runs `xp2p demo` — a server and a client on loopback
# through the real core, with the console open. `q` quits and removes everything.
# Pass --headless to get the SOCKS address instead of the console.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xray >/dev/null && ! command -v v2ray >/dev/null; then
  echo "demo: installing v2ray (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq v2ray >/dev/null
fi
cargo build -q --release --bin xp2p
exec ./target/release/xp2p demo "$@"
