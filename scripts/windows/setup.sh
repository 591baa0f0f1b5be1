#!/usr/bin/env bash
# Installs and prepares everything needed to cross-build xp2p for
# x86_64-pc-windows-gnu and to run the result under wine, from Debian's
# packages only. Idempotent: a second run does nothing but check.
#
#   bash scripts/windows/setup.sh
#
# Steps (each is skipped when already done; each prints its time):
#   1. apt: rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine64, and
#      rust-web-clippy for `cargo.sh clippy` (--no-install-recommends; `apt-get update` first only when a package is
#      missing and apt has no recent-enough candidate for it)
#   2. shim: builds bcryptprimitives.dll (ProcessPrng -> SystemFunction036)
#      from scripts/windows/processprng.c with mingw
#   3. prefix: a private WINEPREFIX (`wine64 wineboot --init`, `wineserver64 -w`)
#   4. copies the shim into the prefix's system32
#
# Environment (same names as scripts/windows/env.sh):
#   WINEPREFIX            the wine prefix (default: <repo>/target/wine-prefix)
#   XP2P_WIN_TARGET_DIR   cargo target dir for Windows (default: <repo>/target/windows);
#                         the shim is built to $XP2P_WIN_TARGET_DIR/shim/
#   XP2P_WIN_SKIP_APT=1   skip step 1 (packages known to be there)
#   XP2P_WIN_CLIPPY=0     do not install rust-web-clippy (3.8 MB)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export WINEPREFIX="${WINEPREFIX:-$repo/target/wine-prefix}"
target_dir="${XP2P_WIN_TARGET_DIR:-$repo/target/windows}"
wine64=/usr/lib/wine/wine64
wineserver64=/usr/lib/wine/wineserver64
mingw=x86_64-w64-mingw32-gcc
packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine64)
[[ "${XP2P_WIN_CLIPPY:-1}" == 0 ]] || packages+=(rust-web-clippy)
# The oldest rustc-web that is known to work (see shared/reference/windows-on-linux.md);
# bookworm's main archive has 1.85, bookworm-security has 1.96.
min_rust_web=1.96

say() { printf 'windows-setup: %s\n' "$*"; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

total_start=$(now)

# --- 1. packages -----------------------------------------------------------
t=$(now)
if [[ "${XP2P_WIN_SKIP_APT:-}" == 1 ]]; then
    say "apt: skipped (XP2P_WIN_SKIP_APT=1)"
else
    missing=()
    for p in "${packages[@]}"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]]; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        say "apt: all present (${packages[*]}) [$(took "$t")]"
    else
        # Does apt know a candidate for each missing package (and a new enough rustc-web)?
        need_update=0
        for p in "${missing[@]}"; do
            cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
            if [[ -z "$cand" || "$cand" == "(none)" ]]; then
                need_update=1
            elif [[ "$p" == rustc-web || "$p" == cargo-web || "$p" == rust-web-* ]] &&
                ! dpkg --compare-versions "$cand" ge "$min_rust_web"; then
                need_update=1
            fi
        done
        if ((need_update)); then
            say "apt: no (recent enough) candidate for some of: ${missing[*]}; running apt-get update"
            apt-get update -qq
        fi
        say "apt: installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        say "apt: installed ${missing[*]} [$(took "$t")]"
    fi
fi
for tool in /usr/bin/rustc /usr/bin/cargo "$mingw" "$wine64" "$wineserver64"; do
    command -v "$tool" >/dev/null || { say "missing after install: $tool" >&2; exit 1; }
done
say "toolchain: $(/usr/bin/rustc --version), $("$mingw" -dumpversion | head -n1) mingw, $("$wine64" --version 2>/dev/null)"
if [[ ! -d /usr/lib/rustlib/src/rust/library ]]; then
    say "std source not found at /usr/lib/rustlib/src/rust/library (package rust-web-src)" >&2
    exit 1
fi

# --- 2. the bcryptprimitives.dll shim ---------------------------------------
t=$(now)
shim_dir="$target_dir/shim"
shim="$shim_dir/bcryptprimitives.dll"
if [[ -f "$shim" && "$shim" -nt "$here/processprng.c" && "$shim" -nt "${BASH_SOURCE[0]}" ]]; then
    say "shim: up to date ($shim) [$(took "$t")]"
else
    mkdir -p "$shim_dir"
    "$mingw" -shared -O2 -s -Wall -o "$shim.tmp" "$here/processprng.c" -ladvapi32
    mv -f "$shim.tmp" "$shim"
    say "shim: built $shim [$(took "$t")]"
fi

# --- 3. the wine prefix -------------------------------------------------------
t=$(now)
export WINEDEBUG=-all
sys32="$WINEPREFIX/drive_c/windows/system32"
if [[ -f "$WINEPREFIX/system.reg" && -d "$sys32" ]]; then
    say "prefix: exists ($WINEPREFIX) [$(took "$t")]"
else
    mkdir -p "$WINEPREFIX"
    # wineboot wants the prefix owned by the caller; no display is needed.
    DISPLAY='' "$wine64" wineboot --init >/dev/null 2>&1 || true
    "$wineserver64" -w
    if [[ ! -d "$sys32" ]]; then
        say "prefix: wineboot did not create $sys32" >&2
        exit 1
    fi
    say "prefix: created $WINEPREFIX [$(took "$t")]"
fi

# --- 4. the shim in system32 --------------------------------------------------
t=$(now)
if cmp -s "$shim" "$sys32/bcryptprimitives.dll"; then
    say "shim: already in $sys32 [$(took "$t")]"
else
    cp -f "$shim" "$sys32/bcryptprimitives.dll"
    say "shim: copied into $sys32 [$(took "$t")]"
fi

say "done [total $(took "$total_start")]"
say "next: source scripts/windows/env.sh (or use scripts/windows/cargo.sh) and build"
