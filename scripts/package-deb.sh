#!/usr/bin/env bash
# Builds the xp2p Debian package from a staged tree with plain
# `dpkg-deb --build --root-owner-group`: no cargo-deb, no network.
#
#   scripts/package-deb.sh [BINARY [OUTDIR]]
#       -> OUTDIR/xp2p_<version>_<arch>.deb (path printed on the last line)
#   scripts/package-deb.sh --assets [BINARY [DIR]]
#       -> only the generated files (unit, man pages, completions) in DIR,
#          the layout [package.metadata.deb] in Cargo.toml expects for cargo-deb
#
# BINARY defaults to target/release/xp2p, OUTDIR to target/debian, DIR to
# target/deb-assets. The version comes from Cargo.toml and must be the one the
# binary reports. The systemd unit is the one `xp2p service install --dry-run`
# prints for /usr/bin/xp2p and /etc/xp2p. Environment:
#   XP2P_DEB_ARCH        Architecture (default: dpkg --print-architecture)
#   XP2P_DEB_MAINTAINER  Maintainer (default: xp2p maintainers <xp2p@example.invalid>)
#   XP2P_DEB_COMPRESS    xz (default), gzip, zstd or none
#   XP2P_DEB_NOSTRIP=1   keep the binary's symbols
set -euo pipefail

die() {
    echo "package-deb: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
assets_only=0
if [ "${1:-}" = "--assets" ]; then
    assets_only=1
    shift
fi
binary="${1:-$repo/target/release/xp2p}"
if [ "$assets_only" = 1 ]; then
    outdir="${2:-$repo/target/deb-assets}"
else
    outdir="${2:-$repo/target/debian}"
fi
[ $# -le 2 ] || die "usage: $0 [--assets] [BINARY [OUTDIR]]"

command -v dpkg-deb >/dev/null || [ "$assets_only" = 1 ] || die "dpkg-deb not found (apt-get install dpkg)"
[ -x "$binary" ] || die "$binary: no executable xp2p binary (build it: cargo build --release)"

# The version: [workspace.package] version in Cargo.toml.
version="$(awk '
    /^\[/ { section = $0 }
    section == "[workspace.package]" && /^version[ \t]*=/ {
        sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit
    }' "$repo/Cargo.toml")"
[ -n "$version" ] || die "$repo/Cargo.toml: no version in [workspace.package]"
reported="$("$binary" --version 2>/dev/null || true)"
[ "$reported" = "xp2p $version" ] ||
    die "$binary reports \"$reported\" but Cargo.toml says $version: rebuild the binary"

umask 022
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Generated files, from the binary itself, into $1.
generate_assets() {
    local dir="$1" out unit
    mkdir -p "$dir/man" "$dir/completions"
    out="$(env -u XP2P_CONFIG_ROOT -u XP2P_LOG_ROOT -u XP2P_SOCKET \
        "$binary" --config-root /etc/xp2p service install --dry-run --binary /usr/bin/xp2p)" ||
        die "xp2p service install --dry-run failed"
    [ "$(printf '%s\n' "$out" | head -n1)" = "would write /etc/systemd/system/xp2p.service:" ] ||
        die "xp2p service install --dry-run: unexpected first line (the unit's header changed?)"
    # The unit: everything after the header up to the first `would run:` line,
    # its first comment saying who installed it.
    unit="$(printf '%s\n' "$out" | awk 'NR == 1 { next } /^would run: / { exit } { print }' |
        sed '1s/^# Written by `xp2p service install`.*$/# Installed by the xp2p Debian package (the unit `xp2p service install` writes)./')"
    printf '%s\n' "$unit" >"$dir/xp2p.service"
    grep -qx 'ExecStart=/usr/bin/xp2p service run --config-root /etc/xp2p' "$dir/xp2p.service" ||
        die "generated unit has no ExecStart for /usr/bin/xp2p"
    grep -qx 'WantedBy=multi-user.target' "$dir/xp2p.service" ||
        die "generated unit has no [Install] WantedBy"
    "$binary" man --dir "$dir/man" >/dev/null || die "xp2p man failed"
    gzip -9nf "$dir"/man/*.1
    "$binary" completions bash >"$dir/completions/xp2p" || die "xp2p completions bash failed"
    "$binary" completions zsh >"$dir/completions/_xp2p" || die "xp2p completions zsh failed"
    "$binary" completions fish >"$dir/completions/xp2p.fish" || die "xp2p completions fish failed"
}

if [ "$assets_only" = 1 ]; then
    generate_assets "$work/assets"
    mkdir -p "$outdir"
    rm -rf "${outdir:?}/man" "${outdir:?}/completions"
    cp -R "$work/assets/." "$outdir/"
    echo "$outdir"
    exit 0
fi

arch="${XP2P_DEB_ARCH:-$(dpkg --print-architecture 2>/dev/null || true)}"
[ -n "$arch" ] || die "cannot tell the Debian architecture (set XP2P_DEB_ARCH)"
maintainer="${XP2P_DEB_MAINTAINER:-xp2p maintainers <xp2p@example.invalid>}"
compress="${XP2P_DEB_COMPRESS:-xz}"
case "$compress" in xz | gzip | zstd | none) ;; *) die "XP2P_DEB_COMPRESS=$compress: use xz, gzip, zstd or none" ;; esac

generate_assets "$work/assets"
root="$work/root"
a="$work/assets"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" \
    "$root/usr/share/man/man1" "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d" \
    "$root/usr/share/doc/xp2p/examples"
# The modes the unit's ConfigurationDirectoryMode=/LogsDirectoryMode= give them
# (CONFIG_ROOT holds credentials and keys).
install -d -m 0700 "$root/etc/xp2p"
install -d -m 0750 "$root/var/log/xp2p"
install -m 0755 "$binary" "$root/usr/bin/xp2p"
if [ "${XP2P_DEB_NOSTRIP:-0}" != 1 ]; then
    if command -v strip >/dev/null; then
        strip --strip-unneeded "$root/usr/bin/xp2p" || die "strip failed on $binary"
    else
        echo "package-deb: strip not found; the binary keeps its symbols" >&2
    fi
fi
install -m 0644 "$a/xp2p.service" "$root/usr/lib/systemd/system/xp2p.service"
install -m 0644 "$a"/man/*.1.gz "$root/usr/share/man/man1/"
install -m 0644 "$a/completions/xp2p" "$root/usr/share/bash-completion/completions/xp2p"
install -m 0644 "$a/completions/_xp2p" "$root/usr/share/zsh/vendor-completions/_xp2p"
install -m 0644 "$a/completions/xp2p.fish" "$root/usr/share/fish/vendor_completions.d/xp2p.fish"
install -m 0644 "$repo/packaging/deb/copyright" "$root/usr/share/doc/xp2p/copyright"
gzip -9nc "$repo/README.md" >"$root/usr/share/doc/xp2p/README.md.gz"
chmod 0644 "$root/usr/share/doc/xp2p/README.md.gz"
install -m 0644 "$repo/assets/xp2p-client.toml" "$repo/assets/xp2p-server.toml" \
    "$root/usr/share/doc/xp2p/examples/"
for script in postinst prerm postrm; do
    install -m 0755 "$repo/packaging/deb/$script" "$root/DEBIAN/$script"
done

# Shared-library dependencies: dpkg-shlibdeps when dpkg-dev is there, else the
# libraries the binary names, mapped to their packages by hand.
shlibs=""
if command -v dpkg-shlibdeps >/dev/null; then
    mkdir -p "$work/shlibs/debian"
    : >"$work/shlibs/debian/control"
    shlibs="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e "$root/usr/bin/xp2p" 2>/dev/null |
        sed -n 's/^shlibs:Depends=//p')" || shlibs=""
fi
if [ -z "$shlibs" ]; then
    if command -v objdump >/dev/null; then
        glibc="$(objdump -T "$root/usr/bin/xp2p" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1 || true)"
        shlibs="libc6${glibc:+ (>= $glibc)}"
        for lib in $(objdump -p "$root/usr/bin/xp2p" | awk '$1 == "NEEDED" { print $2 }'); do
            case "$lib" in
            libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) ;;
            libgcc_s.so.1) shlibs="$shlibs, libgcc-s1" ;;
            *) die "the binary needs $lib: add its package to scripts/package-deb.sh" ;;
            esac
        done
    else
        echo "package-deb: neither dpkg-shlibdeps nor objdump found; Depends names libc6 and libgcc-s1 without versions" >&2
        shlibs="libc6, libgcc-s1"
    fi
fi

installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat >"$root/DEBIAN/control" <<EOF
Package: xp2p
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $shlibs, v2ray | xray
Section: net
Priority: optional
Description: supervised xray-core Trojan/VLESS tunnels from a small TOML file
 xp2p turns a small TOML file into a running, supervised xray-core (or v2ray)
 for a client role (a router or laptop) and a server role (a public host):
 zero-downtime config changes with rollback to the last known good config,
 crash restarts, sealed one-link client/server deploys, a terminal console
 and one-shot commands. Ships a systemd unit (not enabled on install), man
 pages and shell completions.
EOF
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb="$outdir/xp2p_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group "-Z$compress" "$root" "$deb" >/dev/null ||
    die "dpkg-deb --build failed"
echo "$deb"
