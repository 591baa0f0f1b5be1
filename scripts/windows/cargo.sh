#!/usr/bin/env bash
# Debian's cargo (1.96), set up for x86_64-pc-windows-gnu (see env.sh): builds
# into target/windows and runs tests / binaries under wine.
#
#   scripts/windows/cargo.sh build --release
#   scripts/windows/cargo.sh test -p xp2p-core
#   scripts/windows/cargo.sh run -- --version
#   scripts/windows/cargo.sh clippy --all-targets -- -D warnings   # needs rust-web-clippy
set -euo pipefail
# shellcheck source=env.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"
if [[ "${1:-}" == clippy ]]; then
    # rustup's cargo-clippy/clippy-driver (1.95) cannot read std built by 1.96:
    # use Debian's, which runs $CARGO and its sibling /usr/bin/clippy-driver.
    if [[ ! -x /usr/bin/cargo-clippy ]]; then
        echo "cargo.sh: /usr/bin/cargo-clippy missing: apt-get install --no-install-recommends rust-web-clippy (or XP2P_WIN_CLIPPY=1 scripts/windows/setup.sh)" >&2
        exit 1
    fi
    export CARGO="$XP2P_WIN_CARGO"
    exec /usr/bin/cargo-clippy "$@"
fi
exec "$XP2P_WIN_CARGO" "$@"
