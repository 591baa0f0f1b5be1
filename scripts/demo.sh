#!/usr/bin/env bash
# Local demo: a server and a client role on loopback through a real core.
# Installs v2ray from Debian's packages when no core is found, builds xp2p,
# writes a throwaway CONFIG_ROOT, runs `xp2p service run`, fetches a page through
# the tunnel, and (on a terminal) opens the operator view. Ctrl-C cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xray >/dev/null && ! command -v v2ray >/dev/null; then
  echo "demo: installing v2ray (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq v2ray openssl curl >/dev/null
fi
cargo build -q --bin xp2p
X="$PWD/target/debug/xp2p"
ROOT=$(mktemp -d /tmp/xp2p-demo.XXXXXX)
SVC_PID=""
cleanup() {
  [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null && wait "$SVC_PID" 2>/dev/null
  [ -n "${ORIGIN_PID:-}" ] && kill "$ORIGIN_PID" 2>/dev/null
  rm -rf "$ROOT"
  echo "demo: cleaned up $ROOT"
}
trap cleanup EXIT INT TERM
mkdir -p "$ROOT/tls/server"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=demo.xp2p.local \
  -addext subjectAltName=DNS:demo.xp2p.local \
  -keyout "$ROOT/tls/server/key.pem" -out "$ROOT/tls/server/cert.pem" 2>/dev/null
PW=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TROJAN=$(free_port); SOCKS=$(free_port)
cat > "$ROOT/xp2p-server.toml" <<TOML
[server]
host = "demo.xp2p.local"
listen = "127.0.0.1"
trojan_port = $TROJAN
[[server.users]]
user_label = "demo@xp2p.local"
credential = "$PW"
TOML
cat > "$ROOT/xp2p-client.toml" <<TOML
[client]
socks_address = "127.0.0.1:$SOCKS"
[[client.endpoints]]
hostname = "demo.xp2p.local"
address = "127.0.0.1"
port = $TROJAN
user = "demo@xp2p.local"
password = "$PW"
allow_insecure = true
TOML
export XP2P_CONFIG_ROOT="$ROOT" XP2P_LOG_ROOT="$ROOT/logs"
"$X" validate
"$X" service run > "$ROOT/service.log" 2>&1 &
SVC_PID=$!
python3 -m http.server 0 --bind 127.0.0.2 > "$ROOT/origin.log" 2>&1 &
ORIGIN_PID=$!
for _ in $(seq 1 100); do
  [ -f "$ROOT/.state/live/config-client/xray.json" ] && grep -q 'Serving HTTP' "$ROOT/origin.log" && break
  sleep 0.1
done
ORIGIN_PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$ROOT/origin.log" | head -1)
sleep 0.5
echo "demo: fetching http://127.0.0.2:$ORIGIN_PORT/ through socks5://127.0.0.1:$SOCKS"
curl -s -m 5 --socks5 "127.0.0.1:$SOCKS" "http://127.0.0.2:$ORIGIN_PORT/" | head -3
echo
echo "demo: CONFIG_ROOT=$ROOT  SOCKS=127.0.0.1:$SOCKS"
echo "demo: journal:"; cut -c1-160 "$ROOT/.state/journal.jsonl" | tail -4
if [ -t 1 ] && "$X" tui --help >/dev/null 2>&1; then
  "$X" tui
else
  echo "demo: edit $ROOT/xp2p-client.toml and watch $ROOT/service.log; Ctrl-C to stop"
  wait "$SVC_PID"
fi
