"""Driver for soak.sh. Standard library only.

XP2P_SOAK_WRAPPER (optional): a command line the service is started under, e.g.
"heaptrack -o /tmp/ht"; the service's own pid is then read from its instance lock
and sampled and stopped directly. Unset: the service is started and sampled as is.
XP2P_SOAK_SERIES (optional): a file to write every sample to ("apply rss_kib fds kids").
"""
import json, os, shlex, shutil, signal, socket, subprocess, sys, tempfile, time

XP2P, N, DRAIN = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def sample(pid):
    rss = next((int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")), 0)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    kids = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid and stat.rsplit(")", 1)[1].split()[0] != "Z":
                    kids += 1
            except (OSError, IndexError, ValueError):
                pass
    return rss, fds, kids


def main():
    root = tempfile.mkdtemp(prefix="xp2p-soak-")
    os.makedirs(f"{root}/tls/server")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=soak.local",
                    "-keyout", f"{root}/tls/server/key.pem", "-out", f"{root}/tls/server/cert.pem"], check=True, capture_output=True)
    trojan, socks = free_port(), free_port()
    open(f"{root}/xp2p-server.toml", "w").write(f'[server]\nlisten = "127.0.0.1"\ntrojan_port = {trojan}\n[[server.users]]\nuser_label = "s@x"\ncredential = "pw"\n')
    base = (f'[service]\ndebounce_ms = 600000\ndrain_ms = {DRAIN}\n[client]\nsocks_address = "127.0.0.1:{socks}"\n'
            f'[[client.endpoints]]\nhostname = "soak.local"\naddress = "127.0.0.1"\nport = {trojan}\nuser = "s@x"\npassword = "pw"\nallow_insecure = true\n')
    open(f"{root}/xp2p-client.toml", "w").write(base)
    env = dict(os.environ, XP2P_LOG_ROOT=f"{root}/logs")
    wrapper = shlex.split(os.environ.get("XP2P_SOAK_WRAPPER", ""))
    svc = subprocess.Popen(wrapper + [XP2P, "--config-root", root, "service", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = svc.pid
    try:
        for _ in range(300 * (10 if wrapper else 1)):
            if os.path.exists(f"{root}/.state/live/config-client/xray.json") and os.path.exists(f"{root}/.state/xp2p.sock"): break
            time.sleep(0.1)
        if wrapper:
            pid = int(open(f"{root}/.state/locks/service.lock").read().strip())
        samples, t0 = [], time.monotonic()
        for i in range(N):
            open(f"{root}/xp2p-client.toml", "w").write(base + f'[[client.redirects]]\ncidr = "10.{i // 256 % 256}.{i % 256}.0/24"\noutbound_tag = "direct"\n')
            out = subprocess.run([XP2P, "--config-root", root, "apply", "--role", "client", "--wait", "--json"], env=env, capture_output=True, text=True)
            status = json.loads(out.stdout)["result"]["status"] if out.stdout else "error"
            if status != "committed":
                sys.exit(f"apply {i}: {status} {out.stderr}")
            samples.append(sample(pid))
        if os.environ.get("XP2P_SOAK_SERIES"):
            with open(os.environ["XP2P_SOAK_SERIES"], "w") as f:
                f.writelines(f"{i} {r} {d} {k}\n" for i, (r, d, k) in enumerate(samples))
        step = max(1, N // 10)
        print(json.dumps({"figure": "soak_rss_curve_kib", "every": step, "values": [s[0] for s in samples[::step]]}))
        warm = samples[min(10, len(samples) - 1)]
        end = samples[-1]
        grew = []
        for k, name in enumerate(("rss_kib", "open_fds", "child_processes")):
            series = [s[k] for s in samples]
            print(json.dumps({"figure": "soak", "metric": name, "applies": N, "start": warm[k], "end": end[k], "max": max(series)}))
            if k == 0:
                # RSS: the allocator and the blocking pool warm up over the first
                # applies; a leak keeps growing. Judge the second half: at most
                # 1 MiB more over it (≈2 KiB per apply at 1 000), and never twice
                # the warmed-up value.
                mid = samples[len(samples) // 2][0]
                print(json.dumps({"figure": "soak_rss_second_half_kib", "applies": N - len(samples) // 2, "start": mid, "end": end[0], "growth": end[0] - mid}))
                if end[0] - mid > 1024 or end[0] > warm[0] * 2:
                    grew.append(name)
            # fds: +2 for an IPC connection in flight; children: exactly as many.
            elif end[k] > warm[k] + (2 if k == 1 else 0):
                grew.append(name)
        print(json.dumps({"figure": "soak_duration_s", "applies": N, "seconds": round(time.monotonic() - t0, 1)}))
        if grew:
            sys.exit(f"grew: {', '.join(grew)}")
    finally:
        if pid != svc.pid and svc.poll() is None:
            try:
                os.kill(pid, signal.SIGTERM)  # the service itself; the wrapper then ends
            except ProcessLookupError:
                pass
        else:
            svc.send_signal(signal.SIGTERM)
        svc.wait()
        shutil.rmtree(root, ignore_errors=True)


main()
