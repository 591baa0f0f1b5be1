#!/usr/bin/env bash
# Boots Debian's real systemd in systemd-nspawn, for testing xp2p's unit under the
# manager it ships for (tests/systemd_unit.rs drives it; CI runs that test).
#
#   scripts/systemd-nspawn.sh prepare
#       installs debootstrap and systemd-container from apt when missing, and
#       debootstraps (once; then cached) a minbase root with systemd and v2ray.
#       Prints the cached root's path on the last line.
#   scripts/systemd-nspawn.sh boot RUNDIR
#       prepare, copy the cached root to RUNDIR/root (the cache stays clean),
#       boot it in the background and wait until its systemd has booted.
#       Prints the host pid of the guest's PID 1 on the last line.
#   scripts/systemd-nspawn.sh exec RUNDIR CMD [ARG...]
#       runs CMD inside the booted guest (nsenter into every namespace of its
#       PID 1, clean environment); exits with CMD's status.
#   scripts/systemd-nspawn.sh poweroff RUNDIR
#       powers the guest off (bounded), kills what is left and deletes RUNDIR.
#   scripts/systemd-nspawn.sh mirror
#       prints the Debian mirror prepare would use.
#   scripts/systemd-nspawn.sh run CMD [ARG...]
#       boot a fresh guest in a temporary RUNDIR, run CMD on the host with
#       XP2P_NSPAWN_DIR=RUNDIR, power off on every exit path.
#
# Files written on the host under RUNDIR/root appear in the guest at once (it is
# the guest's root directory). Needs root. Environment:
#   XP2P_NSPAWN_CACHE   cache folder (default: ${CARGO_TARGET_DIR:-target}/nspawn-cache)
#   XP2P_NSPAWN_SUITE   Debian suite to debootstrap (default: bookworm)
#   XP2P_NSPAWN_MIRROR  Debian mirror (default: the main suite's URI in this
#                       machine's own apt sources)
set -euo pipefail

die() {
    echo "systemd-nspawn.sh: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
script="$repo/scripts/$(basename "$0")"
suite="${XP2P_NSPAWN_SUITE:-bookworm}"
packages="systemd,systemd-sysv,dbus,iproute2,v2ray,ca-certificates,openssl,procps"
cache="${XP2P_NSPAWN_CACHE:-${CARGO_TARGET_DIR:-$repo/target}/nspawn-cache}"
guest_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump when the way the root is built changes (invalidates the cache).
recipe=1

need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, systemd-nspawn, nsenter)"
}

# The mirror that serves $suite in this machine's own apt sources (deb822 first,
# then one-line sources.list). Never a hard-coded host.
mirror() {
    if [ -n "${XP2P_NSPAWN_MIRROR:-}" ]; then
        echo "$XP2P_NSPAWN_MIRROR"
        return
    fi
    local f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Stanzas are separated by blank lines; pick one whose Suites lists $suite.
        uri="$(awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; hit = 0; deb = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb = 1
                    if ($i ~ /^Suites:/) {
                        n = split(substr($i, 8), s, /[ \t]+/)
                        for (j = 1; j <= n; j++) if (s[j] == suite) hit = 1
                    }
                }
                if (hit && deb && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f")"
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            uri="$(awk -v suite="$suite" '
                $1 == "deb" {
                    i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == suite) { print $i; exit }
                }' "$f")"
            [ -n "$uri" ] && break
        done
    fi
    [ -n "$uri" ] || die "no apt source for $suite in /etc/apt/sources.list{,.d/*}: set XP2P_NSPAWN_MIRROR"
    echo "$uri"
}

# debootstrap and systemd-nspawn from Debian, when missing.
host_tools() {
    local want=()
    command -v debootstrap >/dev/null || want+=(debootstrap)
    command -v systemd-nspawn >/dev/null || want+=(systemd-container)
    command -v nsenter >/dev/null || want+=(util-linux)
    [ ${#want[@]} -eq 0 ] && return
    command -v apt-get >/dev/null || die "missing ${want[*]} and no apt-get to install them"
    echo "systemd-nspawn.sh: installing ${want[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${want[@]}" >&2 ||
        die "apt-get install ${want[*]} failed"
}

# The cached root for this package list, built when missing. Prints its path.
prepare() {
    need_root
    host_tools
    local arch key dir
    arch="$(dpkg --print-architecture)"
    key="$(printf '%s\n' "$recipe" "$suite" "$arch" "$packages" | sha256sum | cut -c1-16)"
    dir="$cache/$suite-$arch-$key"
    mkdir -p "$cache"
    # One builder at a time; the others wait and then use its result.
    exec 9>"$cache/.lock"
    flock 9
    if [ ! -f "$dir/ready" ]; then
        local src tmp started
        src="$(mirror)"
        tmp="$dir.tmp"
        rm -rf "$tmp" "$dir"
        mkdir -p "$tmp"
        started=$(date +%s)
        echo "systemd-nspawn.sh: debootstrap $suite from $src into $dir (once; cached)" >&2
        debootstrap --variant=minbase --include="$packages" "$suite" "$tmp/root" "$src" \
            >"$tmp/debootstrap.log" 2>&1 ||
            die "debootstrap failed; see $tmp/debootstrap.log: $(tail -n 3 "$tmp/debootstrap.log" | tr '\n' ' ')"
        # Debian's own v2ray.service would start a core on boot: xp2p runs its own.
        chroot "$tmp/root" systemctl disable v2ray.service >/dev/null 2>&1 || true
        chroot "$tmp/root" systemctl mask v2ray.service v2ray@.service >/dev/null 2>&1 ||
            die "cannot mask v2ray.service in the guest"
        # Empty machine-id: systemd makes a fresh one on every boot.
        : >"$tmp/root/etc/machine-id"
        echo "$(($(date +%s) - started)) s" >"$tmp/built-in"
        mv "$tmp" "$dir"
        touch "$dir/ready"
    fi
    exec 9>&-
    echo "$dir/root"
}

rundir_arg() {
    [ -n "${1:-}" ] || die "missing RUNDIR"
    realpath -m "$1"
}

# The host pid of the guest's PID 1 (the only child of nspawn).
leader_of() {
    local run="$1" nspawn
    nspawn="$(cat "$run/nspawn.pid" 2>/dev/null)" || return 1
    ps -o pid= --ppid "$nspawn" | head -n1 | tr -d ' '
}

guest() {
    local leader="$1"
    shift
    nsenter -t "$leader" -a env -i PATH="$guest_path" LANG=C.UTF-8 TERM=dumb "$@"
}

boot() {
    need_root
    local run cached name nspawn leader deadline state
    run="$(rundir_arg "${1:-}")"
    cached="$(prepare | tail -n1)"
    [ ! -e "$run/root" ] || die "$run/root exists: one guest per RUNDIR"
    mkdir -p "$run"
    # A failed boot leaves nothing behind.
    # shellcheck disable=SC2064 # expanded now: $run is local
    trap "poweroff_guest '$run' >/dev/null 2>&1 || true" EXIT
    cp -a --reflink=auto "$cached" "$run/root" || die "cannot copy $cached to $run/root"
    name="xp2p-test-$(basename "$run" | tr -c 'a-zA-Z0-9\n-' '-' | cut -c1-40)"
    # --keep-unit: the host runs neither systemd nor D-Bus (nspawn would fail with
    # "Failed to open system bus"). The unified hierarchy is what Debian 12 boots
    # with. nspawn's seccomp filter blocks pidfd_getfd by default; the service's
    # drain needs it. The guest sees only its own loopback.
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid systemd-nspawn -b -D "$run/root" -M "$name" \
        --register=no --keep-unit --private-network --console=read-only \
        --system-call-filter=pidfd_getfd --bind=/dev/net/tun \
        </dev/null >"$run/console.log" 2>&1 &
    nspawn=$!
    echo "$nspawn" >"$run/nspawn.pid"
    # Wait for the guest's systemd to exist, then for its boot to finish.
    deadline=$((SECONDS + 60))
    leader=""
    while [ -z "$leader" ] || [ "$(cat "/proc/$leader/comm" 2>/dev/null)" != systemd ]; do
        kill -0 "$nspawn" 2>/dev/null || die "systemd-nspawn exited: $(tail -n 5 "$run/console.log" | tr '\n' ' ')"
        [ "$SECONDS" -lt "$deadline" ] || die "no guest systemd after 60 s: $(tail -n 5 "$run/console.log" | tr '\n' ' ')"
        sleep 0.1
        leader="$(leader_of "$run" || true)"
    done
    # is-system-running needs the guest's private bus socket: retry until it is
    # there, then `--wait` blocks until boot finished.
    state=""
    while :; do
        state="$(timeout 120 nsenter -t "$leader" -a env -i PATH="$guest_path" \
            systemctl is-system-running --wait 2>/dev/null || true)"
        case "$state" in
        running | degraded) break ;;
        esac
        [ "$SECONDS" -lt "$deadline" ] || die "guest did not boot (state: ${state:-none}): $(tail -n 5 "$run/console.log" | tr '\n' ' ')"
        kill -0 "$nspawn" 2>/dev/null || die "systemd-nspawn exited: $(tail -n 5 "$run/console.log" | tr '\n' ' ')"
        sleep 0.1
    done
    if [ "$state" = degraded ]; then
        echo "systemd-nspawn.sh: guest booted degraded; failed units:" >&2
        guest "$leader" systemctl --failed --no-legend >&2 || true
    fi
    echo "$leader" >"$run/leader.pid"
    trap - EXIT
    echo "$leader"
}

exec_in() {
    need_root
    local run leader
    run="$(rundir_arg "${1:-}")"
    shift
    [ $# -gt 0 ] || die "exec: missing CMD"
    leader="$(cat "$run/leader.pid" 2>/dev/null)" || die "$run: no booted guest"
    kill -0 "$leader" 2>/dev/null || die "$run: the guest (pid $leader) is not running"
    guest "$leader" "$@"
}

# Power off: ask the guest's systemd (30 s), then kill nspawn; delete RUNDIR.
poweroff_guest() {
    local run="$1" nspawn leader
    nspawn="$(cat "$run/nspawn.pid" 2>/dev/null || true)"
    if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
        leader="$(leader_of "$run" || true)"
        if [ -n "$leader" ]; then
            guest "$leader" systemctl poweroff --no-block >/dev/null 2>&1 || true
            timeout 30 tail --pid="$nspawn" -f /dev/null || true
        fi
        if kill -0 "$nspawn" 2>/dev/null; then
            echo "systemd-nspawn.sh: guest did not power off within 30 s; killing nspawn" >&2
            kill -TERM "$nspawn" 2>/dev/null || true
            timeout 10 tail --pid="$nspawn" -f /dev/null || kill -KILL "$nspawn" 2>/dev/null || true
            timeout 10 tail --pid="$nspawn" -f /dev/null || true
        fi
    fi
    # nspawn may leave bind mounts behind when killed.
    if [ -d "$run/root" ]; then
        { grep -F " $run/root" /proc/self/mounts || true; } | awk '{ print $2 }' | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
    fi
    rm -rf --one-file-system "$run"
}

run_with_guest() {
    need_root
    [ $# -gt 0 ] || die "run: missing CMD"
    local run
    run="$(mktemp -d "${TMPDIR:-/tmp}/xp2p-nspawn.XXXXXX")"
    rmdir "$run"
    trap 'exit 130' INT TERM
    # boot cleans up after itself when it fails (its own EXIT trap, cleared
    # when it succeeds); from here on this one powers the guest off.
    boot "$run" >/dev/null
    # shellcheck disable=SC2064 # expanded now: $run is local
    trap "poweroff_guest '$run'" EXIT
    XP2P_NSPAWN_DIR="$run" "$@"
}

cmd="${1:-}"
shift || true
case "$cmd" in
prepare) prepare ;;
mirror) mirror ;;
boot) boot "$@" ;;
exec) exec_in "$@" ;;
poweroff)
    need_root
    poweroff_guest "$(rundir_arg "${1:-}")"
    ;;
run) run_with_guest "$@" ;;
*) die "usage: $script prepare | boot RUNDIR | exec RUNDIR CMD... | poweroff RUNDIR | run CMD..." ;;
esac
