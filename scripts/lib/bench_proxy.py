"""Proxy throughput and latency: direct vs versiongate vs nginx vs HAProxy vs Caddy, in one run.

Every proxy gets one worker and the same nginx static backend; every case runs the same wrk settings.
Rounds alternate the order of the systems (A B … then … B A) and the tables show medians.
"""

import asyncio
import json
import os
import resource
import sys
import tempfile
import time

from benchlib import (ROOT, TARGET, Processes, api, cpu_seconds, free_port, median_of, rss_kib, save_json, start_gateway,
                      table, wait_port, wait_settled, wrk)

SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
# A tuning change is measured against the binary before it, in the same run: BENCH_BASELINE=path adds it as
# the system "baseline"; BENCH_SYSTEMS=versiongate,baseline,nginx limits the run to those systems.
BASELINE = os.environ.get("BENCH_BASELINE")
ONLY = [s for s in os.environ.get("BENCH_SYSTEMS", "").split(",") if s]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# (label, path, connections, wrk script): the mixed case sends one small POST in ten on every connection.
MIXED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mixed_post.lua")
CASES = [("tiny", "/tiny", 1, None), ("tiny", "/tiny", 64, None), ("4 KiB", "/4k", 1, None),
         ("4 KiB", "/4k", 64, None), ("mixed: 1 POST in 10, tiny", "/tiny", 64, MIXED)]
HOST = "bench.test"


def backend_conf(d, port):
    with open(os.path.join(d, "4k"), "wb") as f:
        f.write(b"x" * 4096)
    # nginx's workers run as an unprivileged user: they must be able to read the file.
    os.chmod(d, 0o755)
    os.chmod(os.path.join(d, "4k"), 0o644)
    return f"""worker_processes 1; daemon off; pid {d}/backend.pid; error_log {d}/backend-error.log;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{ access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server {{ listen 127.0.0.1:{port} backlog=4096;
    location = /tiny {{ default_type text/plain; return 200 "0123456789"; }}
    location = /health {{ default_type text/plain; return 200 "ok"; }}
    location = /4k {{ default_type text/plain; alias {d}/4k; }} }} }}
"""


# Every proxy does the work versiongate does on each request: it adds X-Forwarded-For, -Proto and -Host, and an
# X-Request-Id unless the client sent one, so the comparison is between the same jobs.
def nginx_proxy_conf(d, port, backend, listen_extra="", server_extra="", http_extra=""):
    return f"""worker_processes 1; daemon off; pid {d}/proxy.pid; error_log {d}/proxy-error.log;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{ access_log off; keepalive_requests 10000000; {http_extra}
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  map $http_x_request_id $vg_request_id {{ "" $request_id; default $http_x_request_id; }}
  server {{ listen 127.0.0.1:{port}{listen_extra} backlog=4096; {server_extra}
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
                  proxy_set_header Host $host;
                  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                  proxy_set_header X-Forwarded-Proto $scheme;
                  proxy_set_header X-Forwarded-Host $host;
                  proxy_set_header X-Request-Id $vg_request_id; }} }} }}
"""


def haproxy_conf(port, backend, bind_extra="", proto="http", global_extra=""):
    return f"""global
  nbthread 1
  maxconn 9000
{global_extra}defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:{port}{bind_extra}
  option forwardfor
  unique-id-format %{{+X}}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
  http-request set-header X-Forwarded-Proto {proto}
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Request-Id %[unique-id] unless {{ req.hdr(x-request-id) -m found }}
  default_backend b
backend b
  server s1 127.0.0.1:{backend}
"""


def caddy_conf(port, backend):
    return f"""{{
  admin off
  auto_https off
}}
http://:{port} {{
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:{backend} {{
    header_up X-Request-Id {{http.request.uuid}}
  }}
}}
"""


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start_versiongate(procs, d, backend, name="versiongate", binary=None):
    project = f"""name = "bench"
runtime = "external"
domains = ["{HOST}"]
health_interval_ms = 100
healthy_threshold = 1
"""
    port, admin, token, proc = start_gateway(procs, d, project, name, binary)
    code, dep = api(admin, token, "POST", "/api/v1/projects/bench/deployments", {"target": f"127.0.0.1:{backend}"})
    if code >= 300 or wait_settled(admin, token, dep["id"])["status"] != "ACTIVE":
        raise SystemExit(f"cannot deploy the backend on {name}: {code} {dep}")
    return port, proc


async def hold_connections(port, count, batch=500, tls=None, host=HOST):
    """Opens `count` keep-alive connections (TLS with the `tls` context), each after one answered request, and
    keeps them open."""
    conns = []

    async def one():
        server_hostname = host if tls else None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls, server_hostname=server_hostname)
        writer.write(f"GET /tiny HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        await reader.readuntil(b"0123456789")
        conns.append(writer)

    for start in range(0, count, batch):
        await asyncio.gather(*(one() for _ in range(min(batch, count - start))))
    return conns


def rss_under_connections(port, pid, count):
    async def run():
        conns = await hold_connections(port, count)
        await asyncio.sleep(1)
        rss = rss_kib(pid)
        for w in conns:
            w.close()
        return rss
    return asyncio.run(run())


def main():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    procs = Processes()
    d = tempfile.mkdtemp(prefix="vg-bench-")
    try:
        backend = free_port()
        procs.start("backend", ["nginx", "-c", write(d, "backend.conf", backend_conf(d, backend)), "-e", f"{d}/b.err"], d)
        wait_port(backend)
        vg_port, vg = start_versiongate(procs, d, backend)
        idle_rss = rss_kib(vg.pid)
        ports = {"direct": backend, "versiongate": vg_port}
        ports["nginx"] = free_port()
        nginx = procs.start("nginx", ["nginx", "-c", write(d, "proxy.conf", nginx_proxy_conf(d, ports["nginx"], backend)),
                              "-e", f"{d}/p.err"], d)
        ports["haproxy"] = free_port()
        haproxy = procs.start("haproxy", ["haproxy", "-db", "-f", write(d, "haproxy.cfg", haproxy_conf(ports["haproxy"], backend))], d)
        ports["caddy"] = free_port()
        caddy = procs.start("caddy", ["caddy", "run", "--adapter", "caddyfile", "--config",
                              write(d, "Caddyfile", caddy_conf(ports["caddy"], backend))], d,
                    {"GOMAXPROCS": "1", "XDG_DATA_HOME": d, "XDG_CONFIG_HOME": d, "HOME": d})
        rss = {"versiongate": (vg_port, vg.pid, idle_rss)}
        pids = {"versiongate": vg.pid, "nginx": nginx.pid, "haproxy": haproxy.pid, "caddy": caddy.pid}
        # Pingora with none of our code: a bare proxy, and one that answers by itself (only its downstream half).
        floor = os.path.join(TARGET, "release", "examples", "pingora_floor")
        for system, target in (("pingora-bare", f"127.0.0.1:{backend}"), ("pingora-answer", "answer"),
                               ("pingora-lean", f"lean:127.0.0.1:{backend}")):
            ports[system] = free_port()
            pids[system] = procs.start(system, [floor, f"127.0.0.1:{ports[system]}", target], d).pid
        if BASELINE:
            ports["baseline"], base = start_versiongate(procs, d, backend, "baseline", BASELINE)
            rss["baseline"] = (ports["baseline"], base.pid, rss_kib(base.pid))
            pids["baseline"] = base.pid
        for port in ports.values():
            wait_port(port)
        results = run_cases({s: p for s, p in ports.items() if not ONLY or s in ONLY or s == "nginx"}, pids)
        held = {s: (idle, rss_under_connections(port, pid, 10_000)) for s, (port, pid, idle) in rss.items()}
        report(results, held)
    finally:
        procs.stop_all()


def measured(url, conns, pid, script=None):
    """One wrk run, plus the proxy's CPU time per request (user + system, µs) when its pid is known."""
    before = cpu_seconds(pid) if pid else None
    run = wrk(url, conns, SECONDS, host=HOST, script=script)
    if before:
        after = cpu_seconds(pid)
        run["user_us"], run["sys_us"] = ((a - b) / run["requests"] * 1e6 for a, b in zip(after, before))
        run["cpu_us"] = run["user_us"] + run["sys_us"]
    return run


def run_cases(ports, pids):
    systems = list(ports)
    results = {}
    for label, path, conns, script in CASES:
        runs = {s: [] for s in systems}
        for r in range(ROUNDS):
            for system in (systems if r % 2 == 0 else systems[::-1]):
                url = f"http://127.0.0.1:{ports[system]}{path}"
                wrk(url, conns, 1, host=HOST, script=script)  # warm-up
                runs[system].append(measured(url, conns, pids.get(system), script))
                print(f"  {label} c={conns} round {r + 1} {system}: {runs[system][-1]['rps']:.0f} req/s", file=sys.stderr)
        results[(label, conns)] = runs
    return results


def report(results, rss):
    print(f"# bench-proxy: {ROUNDS} rounds of {SECONDS} s per system and case, medians; one worker each\n")
    raw = {}
    for (label, conns), runs in results.items():
        base = {k: median_of(runs["nginx"], k) for k in ("rps", "p50", "p99", "cpu_us")}
        rows = []
        for system, rs in runs.items():
            rps, p50, p99 = (median_of(rs, k) for k in ("rps", "p50", "p99"))
            errors = sum(r["socket_errors"] + r["non2xx"] for r in rs)
            cpu = cpu_cells(rs, base["cpu_us"])
            rows.append([system, f"{rps:,.0f}", f"{rps / base['rps']:.2f}", f"{p50:.3f}", f"{p50 / base['p50']:.2f}",
                         f"{p99:.3f}", f"{p99 / base['p99']:.2f}", *cpu, errors])
            raw[f"{label} c={conns} {system}"] = [{k: v for k, v in r.items() if k != "raw"} for r in rs]
        print(f"## {label} response, {conns} connection{'s' if conns > 1 else ''}\n")
        print(table(["system", "req/s", "x nginx", "p50 ms", "x nginx", "p99 ms", "x nginx", "cpu us/req",
                     "user+sys", "x nginx", "errors"], rows))
        print()
    for system, (idle, held) in rss.items():
        print(f"{system} RSS: {idle / 1024:.1f} MiB idle, {held / 1024:.1f} MiB with 10,000 open keep-alive connections")
    save_json({"runs": raw, "rss_kib": {s: {"idle": i, "10k": h} for s, (i, h) in rss.items()}})


def cpu_cells(runs, nginx_cpu):
    """The proxy's median CPU per request, its user + system split, and its ratio to nginx's."""
    if "cpu_us" not in runs[0]:
        return ["-", "-", "-"]
    cpu, user, system = (median_of(runs, k) for k in ("cpu_us", "user_us", "sys_us"))
    return [f"{cpu:.1f}", f"{user:.1f}+{system:.1f}", f"{cpu / nginx_cpu:.2f}"]


if __name__ == "__main__":
    main()
