#!/usr/bin/env bash
# Bulk TCP throughput through TUN + bridge vs straight through the SOCKS port, in
# two network namespaces this script creates and deletes (root; needs v2ray, curl,
# python3, iproute2). A SIZE_MB file is served from the server namespace; the
# client namespace fetches it RUNS times each way. Prints MB/s (10^6 bytes) per run
# and the medians as JSON on the last line.
# Usage: scripts/bench/tun-throughput.sh [SIZE_MB=200] [RUNS=3] [MTU=1500]
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MB=${1:-200}; RUNS=${2:-3}; MTU=${3:-1500}
cargo build -q --release --bin xp2p
BIN=$PWD/target/release/xp2p
ID=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
C=xp2pbc-$ID; S=xp2pbs-$ID; WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  pkill -9 -f "$WORK" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true; ip netns del "$S" 2>/dev/null || true
  rm -rf "/etc/netns/$C" "$WORK"
}
trap cleanup EXIT
ip netns add "$C"; ip netns add "$S"
mkdir -p "/etc/netns/$C"; printf 'nameserver 192.0.2.1\n' > "/etc/netns/$C/resolv.conf"
ip link add "vc$ID" netns "$C" type veth peer name "vs$ID" netns "$S"
ip -n "$C" addr add 10.231.9.1/24 dev "vc$ID"; ip -n "$C" link set "vc$ID" up; ip -n "$C" link set lo up
ip -n "$S" addr add 10.231.9.2/24 dev "vs$ID"; ip -n "$S" link set "vs$ID" up; ip -n "$S" link set lo up
ip -n "$S" addr add 10.77.0.1/32 dev lo; ip -n "$S" addr add 10.99.0.5/32 dev lo
ip -n "$C" route add 10.77.0.1 via 10.231.9.2
mkdir -p "$WORK/www" "$WORK/server" "$WORK/client"
head -c $((SIZE_MB * 1000000)) /dev/urandom > "$WORK/www/blob"
ip netns exec "$S" python3 -m http.server 8080 --bind 10.99.0.5 --directory "$WORK/www" 2>/dev/null &
PIDS+=($!)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=vpn.test 2>/dev/null
mkdir -p "$WORK/server/tls/server"; cp "$WORK/cert.pem" "$WORK/server/tls/server/cert.pem"; cp "$WORK/key.pem" "$WORK/server/tls/server/key.pem"
cat > "$WORK/server/xp2p-server.toml" <<TOML
[core]
path = "/usr/bin/v2ray"
[logging]
level = "warn"
[service]
tunnel_probe_s = 0
[server]
host = "vpn.test"
listen = "0.0.0.0"
trojan_port = 58443
[[server.users]]
user_label = "bench@xp2p.local"
credential = "pw-bench"
TOML
cat > "$WORK/client/xp2p-client.toml" <<TOML
[core]
path = "/usr/bin/v2ray"
[logging]
level = "warn"
[service]
tunnel_probe_s = 0
[client]
socks_address = "127.0.0.1:51180"
tun_enabled = true
tun_mode = "split"
tun_mtu = $MTU
[[client.endpoints]]
tag = "proxy-a"
hostname = "vpn.test"
address = "10.77.0.1"
port = 58443
user = "bench@xp2p.local"
password = "pw-bench"
allow_insecure = true
[[client.redirects]]
cidr = "10.99.0.0/16"
outbound_tag = "proxy-a"
TOML
XP2P_LOG_ROOT=$WORK/server/logs ip netns exec "$S" "$BIN" --config-root "$WORK/server" service run 2>"$WORK/server.log" &
PIDS+=($!)
XP2P_LOG_ROOT=$WORK/client/logs ip netns exec "$C" "$BIN" --config-root "$WORK/client" service run 2>"$WORK/client.log" &
PIDS+=($!)
for _ in $(seq 100); do
  grep -q '"phase": "split"' "$WORK/client/xp2p-client.tun-full.json" 2>/dev/null && break
  sleep 0.2
done
URL=http://10.99.0.5:8080/blob
ip netns exec "$C" curl -s --max-time 10 -o /dev/null "$URL" || { echo "no path through the TUN" >&2; cat "$WORK/client.log" >&2; exit 1; }
rate() { # curl args... -> MB/s
  ip netns exec "$C" curl -s --max-time 300 -o /dev/null -w '%{speed_download}' "$@" | awk '{printf "%.1f", $1/1000000}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
TUN=(); SOCKS=()
for i in $(seq "$RUNS"); do
  TUN+=("$(rate "$URL")"); SOCKS+=("$(rate --socks5-hostname 127.0.0.1:51180 "$URL")")
  echo "run $i: tun+bridge ${TUN[-1]} MB/s, socks ${SOCKS[-1]} MB/s" >&2
done
T=$(printf '%s\n' "${TUN[@]}" | median); K=$(printf '%s\n' "${SOCKS[@]}" | median)
echo "{\"size_mb\":$SIZE_MB,\"mtu\":$MTU,\"runs\":$RUNS,\"tun_bridge_mb_s\":$T,\"socks_mb_s\":$K}"
