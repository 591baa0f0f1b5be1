"""Driver for apply-availability.sh (see there). Standard library only."""
import json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

XP2P, APPLIES = sys.argv[1], int(sys.argv[2])
CORE = shutil.which("xray") or shutil.which("v2ray")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class Origin(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok-xp2p-bench"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass


def socks_get(socks_port, host, port):
    try:
        s = socket.create_connection(("127.0.0.1", socks_port), timeout=3)
    except OSError:
        return False
    try:
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00": return False
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + port.to_bytes(2, "big"))
        head = s.recv(10)
        if len(head) < 2 or head[1] != 0: return False
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        # Read like an HTTP client (up to Content-Length), not until EOF: a
        # proxied connection lingers for the core's uplinkOnly policy (2 s)
        # when the client never half-closes.
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 13:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        return b"ok-xp2p-bench" in data
    except OSError:
        return False
    finally:
        s.close()


class Loop:
    """Three parallel fetch loops, counting successes and failures."""
    def __init__(self, socks, origin):
        self.socks, self.origin, self.ok, self.failed, self.stop = socks, origin, 0, 0, False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(3)]
    def run(self):
        while not self.stop:
            good = socks_get(self.socks, *self.origin)
            with self.lock:
                if good: self.ok += 1
                else: self.failed += 1
    def __enter__(self):
        for t in self.threads: t.start()
        return self
    def __exit__(self, *a):
        self.stop = True
        for t in self.threads: t.join()


def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


def emit(**kw):
    print(json.dumps(kw), flush=True)


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); return True
        except OSError:
            time.sleep(0.002)
    return False


def main():
    if not CORE: sys.exit("no xray/v2ray on PATH")
    work = tempfile.mkdtemp(prefix="xp2p-bench-")
    srv_root, cli_root = os.path.join(work, "server"), os.path.join(work, "client")
    os.makedirs(os.path.join(srv_root, "tls/server")); os.makedirs(cli_root)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench.local",
                    "-keyout", f"{srv_root}/tls/server/key.pem", "-out", f"{srv_root}/tls/server/cert.pem"], check=True, capture_output=True)
    trojan, socks = free_port(), free_port()
    open(f"{srv_root}/xp2p-server.toml", "w").write(f'[server]\nlisten = "127.0.0.1"\ntrojan_port = {trojan}\n[[server.users]]\nuser_label = "b@x"\ncredential = "pw"\n')
    base = (f'[service]\ndebounce_ms = 600000\n[client]\nsocks_address = "127.0.0.1:{socks}"\n'
            f'[[client.endpoints]]\nhostname = "bench.local"\naddress = "127.0.0.1"\nport = {trojan}\nuser = "b@x"\npassword = "pw"\nallow_insecure = true\n')
    open(f"{cli_root}/xp2p-client.toml", "w").write(base)
    httpd = ThreadingHTTPServer(("127.0.0.2", 0), Origin)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = ("127.0.0.2", httpd.server_address[1])
    env = dict(os.environ, XP2P_LOG_ROOT=os.path.join(work, "logs"))
    procs = [subprocess.Popen([XP2P, "--config-root", r, "service", "run"], env=dict(env, XP2P_LOG_ROOT=r + "/logs"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for r in (srv_root, cli_root)]
    try:
        if not wait_port(socks, 30): sys.exit("client SOCKS never came up")
        time.sleep(0.5)
        # xp2p: 20 applies, each a real config change.
        latencies, walls = [], []
        with Loop(socks, origin) as loop:
            for i in range(APPLIES):
                open(f"{cli_root}/xp2p-client.toml", "w").write(base + f'[[client.redirects]]\ncidr = "10.{i}.0.0/16"\noutbound_tag = "direct"\n')
                t0 = time.monotonic()
                out = subprocess.run([XP2P, "--config-root", cli_root, "apply", "--role", "client", "--wait", "--json"],
                                     env=dict(env, XP2P_LOG_ROOT=cli_root + "/logs"), capture_output=True, text=True)
                walls.append((time.monotonic() - t0) * 1000)
                res = json.loads(out.stdout)["result"]
                assert res["status"] == "committed", res
                latencies.append(res["duration_ms"])
        emit(figure="availability_during_applies", tool="xp2p", applies=APPLIES, ok=loop.ok, failed=loop.failed)
        emit(figure="apply_latency_ms", tool="xp2p", p50=pct(latencies, 50), p95=pct(latencies, 95), wall_p50=round(pct(walls, 50), 1), wall_p95=round(pct(walls, 95), 1))
        import re
        drains, left_open = [], 0
        for line in open(f"{cli_root}/.state/journal.jsonl"):
            m = re.search(r"(\d+) connection\(s\) open after (\d+) ms", json.loads(line).get("detail") or "")
            if m:
                left_open += int(m.group(1)); drains.append(int(m.group(2)))
        emit(figure="drain_ms", tool="xp2p", p50=pct(drains, 50), p95=pct(drains, 95), connections_open_at_sigterm=left_open)
        # Naive: stop the client service, then stop-then-start the same core on the same config.
        procs[1].send_signal(signal.SIGTERM); procs[1].wait()
        live = f"{cli_root}/.state/live/config-client/xray.json"
        args = [CORE, "run", "-c", live] if "xray" in os.path.basename(CORE) else [CORE, "-config", live]
        core = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(socks); time.sleep(0.3)
        cold, restarts = [], []
        with Loop(socks, origin) as loop:
            for _ in range(APPLIES):
                t0 = time.monotonic()
                core.send_signal(signal.SIGTERM); core.wait()
                t1 = time.monotonic()
                core = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_port(socks)
                t2 = time.monotonic()
                cold.append((t2 - t1) * 1000); restarts.append((t2 - t0) * 1000)
                time.sleep(0.25)
        core.send_signal(signal.SIGTERM); core.wait()
        emit(figure="availability_during_applies", tool="naive_stop_start", applies=APPLIES, ok=loop.ok, failed=loop.failed)
        emit(figure="apply_latency_ms", tool="naive_stop_start", p50=round(pct(restarts, 50), 1), p95=round(pct(restarts, 95), 1))
        emit(figure="core_cold_start_ms", tool=os.path.basename(CORE), p50=round(pct(cold, 50), 1), p95=round(pct(cold, 95), 1))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM); p.wait()
        httpd.shutdown()
        shutil.rmtree(work, ignore_errors=True)


main()
