# Source this file (bash) to cross-build for x86_64-pc-windows-gnu with
# Debian's Rust (rustc-web, 1.96) and build std from source, and to run the
# results under wine. Run scripts/windows/setup.sh once first.
#
#   . scripts/windows/env.sh
#   "$XP2P_WIN_CARGO" build            # = /usr/bin/cargo, Debian's cargo 1.96
#   "$XP2P_WIN_CARGO" test             # test binaries run under wine64
#
# or, without touching the shell: scripts/windows/cargo.sh build|test|run ...
#
# Variables you may set before sourcing: WINEPREFIX (default
# <repo>/target/wine-prefix), XP2P_WIN_TARGET_DIR (default <repo>/target/windows).
# Note: the sourcing shell keeps these variables; a host `cargo build` in that
# shell would build for Windows too. Use a subshell or cargo.sh to avoid that.

_xp2p_win_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_xp2p_win_repo="$(cd "$_xp2p_win_here/../.." && pwd)"

# Debian's compiler, not rustup's (rustup's has no Windows std and cannot fetch one).
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export XP2P_WIN_CARGO=/usr/bin/cargo
# Build std (from rust-web-src, found through `rustc --print sysroot` = /usr).
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_BUILD_TARGET=x86_64-pc-windows-gnu
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
# A separate target dir, so the host build under target/ is untouched.
export XP2P_WIN_TARGET_DIR="${XP2P_WIN_TARGET_DIR:-$_xp2p_win_repo/target/windows}"
export CARGO_TARGET_DIR="$XP2P_WIN_TARGET_DIR"
# cargo run / cargo test run the .exe under wine.
export WINEPREFIX="${WINEPREFIX:-$_xp2p_win_repo/target/wine-prefix}"
export WINEDEBUG=-all
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$_xp2p_win_here/wine-run.sh"

unset _xp2p_win_here _xp2p_win_repo
