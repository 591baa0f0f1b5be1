#!/usr/bin/env bash
# Runs a command while N CPU hogs (plain busy loops, default 2 = one per core
# here) keep the machine loaded, then stops them: how the suite is proved not
# to depend on an idle machine (README "Testing").
#
#   bash scripts/under-load.sh [-n HOGS] -- COMMAND...
#   bash scripts/under-load.sh -- cargo test --workspace --locked --features fault-injection
#   XP2P_KILL_LOOP=200 bash scripts/under-load.sh -- \
#       cargo test --locked --features fault-injection --test crash_points random_kill_loop
set -euo pipefail
hogs=2
while [ $# -gt 0 ]; do
  case "$1" in
    -n) hogs="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [-n HOGS] -- COMMAND..." >&2; exit 2; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
for _ in $(seq "$hogs"); do
  ( trap - INT TERM; while :; do :; done ) &
  pids+=("$!")
done
echo "under-load: $hogs CPU hogs running (pids ${pids[*]})" >&2
start=$(date +%s)
set +e
"$@"
rc=$?
set -e
echo "under-load: '$*' exited $rc after $(( $(date +%s) - start )) s with $hogs hogs; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $rc
