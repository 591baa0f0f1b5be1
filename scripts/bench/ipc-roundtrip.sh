#!/usr/bin/env bash
# IPC round trip: N `hello` and N `status` requests over the service's socket,
# p50/p99 in microseconds, one JSON line each. Runs a throwaway service (client
# role, SOCKS only) with the core found on PATH.   Usage: ipc-roundtrip.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release --bin xp2p
X="$PWD/target/release/xp2p"
ROOT=$(mktemp -d /tmp/xp2p-ipcbench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[client]\nsocks_address = "127.0.0.1:%s"\n' "$PORT" > "$ROOT/xp2p-client.toml"
XP2P_LOG_ROOT="$ROOT/logs" "$X" --config-root "$ROOT" service run 2>"$ROOT/service.log" &
SVC=$!
trap 'kill $SVC 2>/dev/null; wait $SVC 2>/dev/null; rm -rf "$ROOT"' EXIT
for _ in $(seq 1 100); do [ -S "$ROOT/.state/xp2p.sock" ] && break; sleep 0.05; done
python3 - "$ROOT/.state/xp2p.sock" "${1:-2000}" <<'PY'
import json, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rwb")
def ask(i, kind):
    f.write(json.dumps({"v": 1, "id": i, "type": kind}).encode() + b"\n"); f.flush()
    while True:
        msg = json.loads(f.readline())
        if msg.get("id") == i: return msg
for kind in ("hello", "status"):
    times = []
    for i in range(n):
        t = time.perf_counter(); ask(i + 1, kind); times.append((time.perf_counter() - t) * 1e6)
    times.sort()
    print(json.dumps({"figure": "ipc_round_trip_us", "request": kind, "n": n,
                      "p50": round(times[n // 2], 1), "p99": round(times[int(n * 0.99)], 1)}))
PY
