"""HTTPS in one run: versiongate vs nginx vs HAProxy vs Caddy, one worker each, the same ECDSA P-256 certificate
and the same nginx static backend (plain HTTP behind every proxy).

Cases: HTTP/1.1 keep-alive (wrk), HTTP/2 with 8 connections x 8 streams (h2load), and full handshakes (wrk with
`Connection: close`: a new TLS connection per request, no session resumption). Then versiongate's memory per
idle TLS connection. Rounds alternate the order of the systems; the tables show medians and ratios to nginx.
"""

import asyncio
import os
import re
import ssl
import subprocess
import sys
import tempfile

from bench_proxy import (ROUNDS, SECONDS, backend_conf, cpu_cells, haproxy_conf, hold_connections, nginx_proxy_conf,
                         write)
from benchlib import (Processes, api, cpu_seconds, free_port, median_of, rss_kib, save_json, start_gateway, table,
                      wait_port, wait_settled, wrk)

HOST = "localhost"  # resolves without /etc/hosts changes, and every client sends it as SNI
# The plain part takes BENCH_BASELINE; a binary that serves HTTPS too can be compared here with BENCH_TLS_BASELINE.
BASELINE = os.environ.get("BENCH_TLS_BASELINE")
IDLE_TLS = int(os.environ.get("BENCH_IDLE_TLS", "2000"))
# BENCH_SYSTEMS=versiongate,baseline limits the run to those systems (nginx always runs: the ratios' base);
# BENCH_CASES=h2,handshake to those kinds of case (h1, h2, handshake).
ONLY = [s for s in os.environ.get("BENCH_SYSTEMS", "").split(",") if s]
ONLY_CASES = [s for s in os.environ.get("BENCH_CASES", "").split(",") if s]


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    with open(cert) as c, open(key) as k, open(os.path.join(d, "both.pem"), "w") as both:
        both.write(c.read() + k.read())
    return cert, key


def nginx_conf(d, port, backend, cert, key):
    return nginx_proxy_conf(d, port, backend, " ssl http2",
                            f"ssl_certificate {cert}; ssl_certificate_key {key}; ssl_session_cache off; "
                            "ssl_session_tickets off;", "http2_max_requests 10000000;")


def haproxy_tls_conf(d, port, backend):
    return haproxy_conf(port, backend, f" ssl crt {d}/both.pem alpn h2,http/1.1 no-tls-tickets", "https",
                        "  tune.ssl.cachesize 0\n")


def caddy_conf(port, backend, cert, key):
    return f"""{{
  admin off
  auto_https off
}}
https://localhost:{port} {{
  bind 127.0.0.1
  tls {cert} {key}
  reverse_proxy 127.0.0.1:{backend} {{
    header_up X-Request-Id {{http.request.uuid}}
  }}
}}
"""


def start_versiongate(procs, d, backend, cert, key, name="versiongate", binary=None):
    https = free_port()
    project = f"""name = "bench"
runtime = "external"
domains = ["{HOST}"]
tls = "custom"
health_interval_ms = 100
healthy_threshold = 1
"""
    _, admin, token, proc = start_gateway(procs, d, project, name, binary, f'https_listen = "127.0.0.1:{https}"')
    with open(cert) as c, open(key) as k:
        code, body = api(admin, token, "PUT", f"/api/v1/certificates/{HOST}", {"cert_pem": c.read(), "key_pem": k.read()})
    if code >= 300:
        raise SystemExit(f"cannot upload the certificate to {name}: {code} {body}")
    code, dep = api(admin, token, "POST", "/api/v1/projects/bench/deployments", {"target": f"127.0.0.1:{backend}"})
    if code >= 300 or wait_settled(admin, token, dep["id"])["status"] != "ACTIVE":
        raise SystemExit(f"cannot deploy the backend on {name}: {code} {dep}")
    wait_port(https)
    return https, proc


def h2load(url, seconds):
    """HTTP/2, 8 connections with 8 streams each: requests/s, failures, and the request count."""
    argv = ["h2load", "-c", "8", "-m", "8", "-t", "1", "-D", str(seconds), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    failed = int(done.group(3)) + int(done.group(4)) + sum(int(x) for x in codes.groups()[1:])
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    return {"rps": rps, "requests": int(done.group(1)), "socket_errors": failed, "non2xx": 0,
            "p50": to_ms(mean.group(1)) if mean else 0.0, "p99": 0.0}


def to_ms(text):
    value = float(re.match(r"[\d.]+", text).group(0))
    return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value


CASES = [
    ("HTTP/1.1 keep-alive, tiny, 1 connection", "h1", 1),
    ("HTTP/1.1 keep-alive, tiny, 64 connections", "h1", 64),
    ("HTTP/2, tiny, 8 connections x 8 streams", "h2", 64),
    ("full handshakes (new TLS connection per request), 16 clients", "handshake", 16),
]


def one_run(kind, port, conns, pid):
    url = f"https://{HOST}:{port}/tiny"
    before = cpu_seconds(pid) if pid else None
    if kind == "h2":
        run = h2load(url, SECONDS)
    elif kind == "handshake":
        run = wrk(url, conns, SECONDS, script=None, threads=1, host=None, extra=["-H", "Connection: close"])
    else:
        run = wrk(url, conns, SECONDS)
    if before:
        after = cpu_seconds(pid)
        run["user_us"], run["sys_us"] = ((a - b) / max(run["requests"], 1) * 1e6 for a, b in zip(after, before))
        run["cpu_us"] = run["user_us"] + run["sys_us"]
    return run


def client_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def kib_per_idle_tls(port, pid, count):
    async def run():
        before = rss_kib(pid)
        conns = await hold_connections(port, count, batch=200, tls=client_tls(), host=HOST)
        await asyncio.sleep(1)
        after = rss_kib(pid)
        for w in conns:
            w.close()
        return (after - before) / count
    return asyncio.run(run())


def main():
    procs = Processes()
    d = tempfile.mkdtemp(prefix="vg-bench-tls-")
    try:
        cert, key = make_cert(d)
        backend = free_port()
        procs.start("backend", ["nginx", "-c", write(d, "backend.conf", backend_conf(d, backend)), "-e", f"{d}/b.err"], d)
        wait_port(backend)
        ports, pids = {}, {}
        ports["versiongate"], vg = start_versiongate(procs, d, backend, cert, key)
        pids["versiongate"] = vg.pid
        if BASELINE:
            ports["baseline"], base = start_versiongate(procs, d, backend, cert, key, "baseline", BASELINE)
            pids["baseline"] = base.pid
        ports["nginx"] = free_port()
        pids["nginx"] = procs.start("nginx", ["nginx", "-c", write(d, "tls.conf", nginx_conf(d, ports["nginx"], backend, cert, key)),
                                     "-e", f"{d}/t.err"], d).pid
        ports["haproxy"] = free_port()
        pids["haproxy"] = procs.start("haproxy", ["haproxy", "-db", "-f", write(d, "haproxy.cfg", haproxy_tls_conf(d, ports["haproxy"], backend))], d).pid
        ports["caddy"] = free_port()
        pids["caddy"] = procs.start("caddy", ["caddy", "run", "--adapter", "caddyfile", "--config",
                                     write(d, "Caddyfile", caddy_conf(ports["caddy"], backend, cert, key))], d,
                                    {"GOMAXPROCS": "1", "XDG_DATA_HOME": d, "XDG_CONFIG_HOME": d, "HOME": d}).pid
        for port in ports.values():
            wait_port(port)
        results = run_cases(ports, pids)
        idle = {s: kib_per_idle_tls(ports[s], pids[s], IDLE_TLS) for s in ports if s in ("versiongate", "baseline")
                and (not ONLY or s in ONLY)} if IDLE_TLS else {}
        report(results, idle)
    finally:
        procs.stop_all()


def run_cases(ports, pids):
    systems, results = [s for s in ports if not ONLY or s in ONLY or s == "nginx"], {}
    for label, kind, conns in CASES:
        if ONLY_CASES and kind not in ONLY_CASES:
            continue
        runs = {s: [] for s in systems}
        for r in range(ROUNDS):
            for system in (systems if r % 2 == 0 else systems[::-1]):
                runs[system].append(one_run(kind, ports[system], conns, pids.get(system)))
                print(f"  {label} round {r + 1} {system}: {runs[system][-1]['rps']:.0f} req/s", file=sys.stderr)
        results[label] = runs
    return results


def report(results, idle):
    print(f"# bench-proxy HTTPS: {ROUNDS} rounds of {SECONDS} s per system and case, medians; one worker each; "
          "ECDSA P-256, TLS 1.3, no session resumption\n")
    raw = {}
    for label, runs in results.items():
        base = {k: median_of(runs["nginx"], k) for k in ("rps", "cpu_us")}
        rows = []
        for system, rs in runs.items():
            rps = median_of(rs, "rps")
            errors = sum(r["socket_errors"] + r["non2xx"] for r in rs)
            rows.append([system, f"{rps:,.0f}", f"{rps / base['rps']:.2f}", *cpu_cells(rs, base["cpu_us"]), errors])
            raw[f"{label} {system}"] = [{k: v for k, v in r.items() if k != "raw"} for r in rs]
        print(f"## {label}\n")
        print(table(["system", "req/s", "x nginx", "cpu us/req", "user+sys", "x nginx", "errors"], rows))
        print()
    for system, kib in idle.items():
        print(f"{system}: {kib:.1f} KiB per idle TLS connection ({IDLE_TLS} connections, each after one request)")
    if os.environ.get("BENCH_JSON"):
        os.environ["BENCH_JSON"] = os.environ["BENCH_JSON"].removesuffix(".json") + "-https.json"
    save_json({"https_runs": raw, "kib_per_idle_tls": idle})


if __name__ == "__main__":
    main()
