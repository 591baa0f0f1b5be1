#!/usr/bin/env bash
# Idle footprint: CPU time and RSS of `xp2p service run` and of `xp2p tui` (in a
# tmux pane, dashboard view) over SECONDS of doing nothing. One JSON line each.
# No busy polling should show as ~0 ms of CPU per second.   Usage: idle.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-30}
cargo build -q --release --bin xp2p
X="$PWD/target/release/xp2p"
ROOT=$(mktemp -d /tmp/xp2p-idle.XXXXXX)
TMUX_SOCK="xp2p-idle-$$"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[client]\nsocks_address = "127.0.0.1:%s"\n' "$PORT" > "$ROOT/xp2p-client.toml"
XP2P_LOG_ROOT="$ROOT/logs" "$X" --config-root "$ROOT" service run 2>"$ROOT/service.log" &
SVC=$!
cleanup() { tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true; kill $SVC 2>/dev/null; wait $SVC 2>/dev/null; rm -rf "$ROOT"; }
trap cleanup EXIT
for _ in $(seq 1 100); do [ -S "$ROOT/.state/xp2p.sock" ] && break; sleep 0.05; done
tmux -L "$TMUX_SOCK" new-session -d -x 100 -y 30 "env XP2P_LOG_ROOT=$ROOT/logs $X --config-root $ROOT tui"
sleep 2
TUI=$(pgrep -f "$X --config-root $ROOT tui" | head -1)
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ { r=$2 } /RssAnon/ { a=$2 } /RssFile/ { f=$2 } END { print r "/" a "/" f }' "/proc/$1/status"; }
S0=$(cpu_ms $SVC); T0=$(cpu_ms $TUI)
sleep "$SECS"
S1=$(cpu_ms $SVC); T1=$(cpu_ms $TUI)
python3 - "$SECS" "$S0" "$S1" "$(rss_kib $SVC)" "$T0" "$T1" "$(rss_kib $TUI)" <<'PY'
import json, sys
secs, s0, s1, srss, t0, t1, trss = sys.argv[1:]
secs = float(secs)
for name, a, b, rss in (("service", s0, s1, srss), ("tui", t0, t1, trss)):
    ms = float(b) - float(a)
    total, anon, file = (int(x) for x in rss.split("/"))
    print(json.dumps({"figure": "idle_footprint", "process": name, "seconds": secs,
                      "cpu_ms": round(ms, 1), "cpu_percent": round(ms / (secs * 10), 3),
                      "rss_kib": total, "rss_anon_kib": anon, "rss_file_kib": file}))
PY
