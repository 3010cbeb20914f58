"""Shared pieces of the benchmark scripts: free ports, processes stopped by pid, wrk runs and tables."""

import json
import os
import sys
import re
import signal
import socket
import statistics
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where cargo put the release build: CARGO_TARGET_DIR when set, as cargo reads it.
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Processes:
    """Every process a script starts, each stopped by its own pid at the end."""

    def __init__(self):
        self.started = []
        # A plain SIGTERM would end Python without running the callers' `finally: stop_all()`.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def start(self, name, argv, log_dir, env=None):
        log = open(os.path.join(log_dir, f"{name}.log"), "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.started.append((name, proc))
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for _, proc in reversed(self.started):
            self.stop(proc)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User and system CPU seconds of `pid` and all its descendants (nginx's workers, every thread)."""
    user = system = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            user += int(fields[11]) / tick
            system += int(fields[12]) / tick
            for tid in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{tid}/children").read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return user, system


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def wrk(url, connections, seconds, host=None, script=None, threads=1, extra=()):
    """One wrk run: requests/s, p50 and p99 in ms, socket errors and non-2xx answers."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", *extra]
    if host:
        argv += ["-H", f"Host: {host}"]
    if script:
        argv += ["-s", script]
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in errors.groups()) if errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "socket_errors": socket_errors,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "requests": total, "raw": out}


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def api(admin_port, token, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{admin_port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_settled(admin_port, token, deployment_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, d = api(admin_port, token, "GET", f"/api/v1/deployments/{deployment_id}")
        status = (d or {}).get("status")
        if status in ("FAILED", "CANCELLED", "SUPERSEDED", "ROLLED_BACK") or (status == "ACTIVE" and d["phase"] == "done"):
            return d
        time.sleep(0.05)
    raise SystemExit(f"deployment {deployment_id} did not settle in {timeout}s")


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def save_json(data):
    """Writes the raw figures to $BENCH_JSON, when it is set, for docs/BENCHMARKS.md."""
    out = os.environ.get("BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump(data, f, indent=1)


def start_gateway(procs, d, project_toml, name="versiongate", binary=None, proxy_extra=""):
    """The release binary on free loopback ports, one proxy thread, with one `[[projects]]` section.

    Returns the proxy port, the admin port, the admin token and the process."""
    port, admin, token = free_port(), free_port(), "bench-token"
    config = os.path.join(d, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f"""data_dir = "{d}/{name}-data"
[proxy]
http_listen = "127.0.0.1:{port}"
threads = 1
{proxy_extra}
[admin]
listen = "127.0.0.1:{admin}"
token = "{token}"
[[projects]]
{project_toml}""")
    binary = binary or os.path.join(TARGET, "release", "versiongate")
    proc = procs.start(name, [binary, "serve", "--config", config], d, {"RUST_LOG": "warn"})
    wait_port(port)
    wait_port(admin)
    return port, admin, token, proc
