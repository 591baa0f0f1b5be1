#!/usr/bin/env bash
# Runs a Windows executable under wine64 with the project's private prefix and
# passes its exit code through. Used as cargo's runner for
# x86_64-pc-windows-gnu (CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER, set by
# scripts/windows/env.sh), so `cargo run` / `cargo test` run under wine.
#
#   scripts/windows/wine-run.sh PROGRAM.exe [ARGS...]
#
# Environment: WINEPREFIX (default <repo>/target/wine-prefix),
# XP2P_WINEDEBUG (default -all; e.g. "err+all" to see wine's errors).
# Arguments are passed unchanged; a Unix absolute path such as /tmp/x resolves
# to Z:\tmp\x inside wine because the current directory is on Z:.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export WINEPREFIX="${WINEPREFIX:-$repo/target/wine-prefix}"
export WINEDEBUG="${XP2P_WINEDEBUG:--all}"

if (($# == 0)); then
    echo "usage: $0 PROGRAM.exe [ARGS...]" >&2
    exit 2
fi
if [[ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]]; then
    echo "wine-run: prefix $WINEPREFIX is not set up (no bcryptprimitives.dll shim); run scripts/windows/setup.sh" >&2
    exit 125
fi
exec /usr/lib/wine/wine64 "$@"
