"""Replicas: what the balancer costs the proxy, and what replicas give a one-core app.

Part 1, the balancer's cost: one versiongate routes to 1 target, another to 4 targets (four ports of one nginx
static backend), nginx beside them with the same upstream (1 server, then 4 with least_conn). wrk, one worker
each; the table shows req/s and the proxy's CPU per request.

Part 2, an app capped at a tenth of a core per container (`cpus = 0.1`, BENCH_APP_CPUS; a one-core Node.js
process on a busy VPS, scaled down to this 2-core machine):
the tools/testapp image deployed by versiongate with replicas = 1, then replicas = 4, under the same wrk load.
Throughput should scale with the replicas while the gateway's own CPU per request stays flat.
"""

import os
import sys
import tempfile

from bench_deploy import commit_version, signed_push, testapp_project
from bench_proxy import nginx_proxy_conf, write
from benchlib import (Processes, api, cpu_seconds, free_port, median_of, save_json, start_gateway, table, wait_port,
                      wait_settled, wrk)

SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
HOST = "bench.test"
APP_CPUS = os.environ.get("BENCH_APP_CPUS", "0.1")


def backend_conf(d, ports):
    listens = "".join(f"listen 127.0.0.1:{p} backlog=4096; " for p in ports)
    return f"""worker_processes 1; daemon off; pid {d}/backend.pid; error_log {d}/backend-error.log;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{ access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server {{ {listens}
    location = /tiny {{ default_type text/plain; return 200 "0123456789"; }}
    location = /health {{ default_type text/plain; return 200 "ok"; }} }} }}
"""


def vg_with_targets(procs, d, name, targets):
    project = f"""name = "bench"
runtime = "external"
domains = ["{HOST}"]
health_interval_ms = 100
healthy_threshold = 1
"""
    port, admin, token, proc = start_gateway(procs, d, project, name)
    body = {"targets": [f"127.0.0.1:{t}" for t in targets]}
    code, dep = api(admin, token, "POST", "/api/v1/projects/bench/deployments", body)
    if code >= 300 or wait_settled(admin, token, dep["id"])["status"] != "ACTIVE":
        raise SystemExit(f"cannot deploy {len(targets)} targets on {name}: {code} {dep}")
    return port, proc.pid


def nginx_with_servers(procs, d, name, ports):
    port = free_port()
    conf = nginx_proxy_conf(d, port, ports[0]).replace(f"pid {d}/proxy.pid", f"pid {d}/{name}.pid")
    if len(ports) > 1:
        servers = " ".join(f"server 127.0.0.1:{p};" for p in ports)
        conf = conf.replace(f"server 127.0.0.1:{ports[0]};", f"least_conn; {servers}")
    proc = procs.start(name, ["nginx", "-c", write(d, f"{name}.conf", conf), "-e", f"{d}/{name}.err"], d)
    return port, proc.pid


def measured(port, conns, pid, path="/tiny", host=HOST):
    before = cpu_seconds(pid)
    run = wrk(f"http://127.0.0.1:{port}{path}", conns, SECONDS, host=host)
    after = cpu_seconds(pid)
    run["cpu_us"] = sum(a - b for a, b in zip(after, before)) / max(run["requests"], 1) * 1e6
    return run


def rounds(systems, conns, path="/tiny", host=HOST):
    runs = {name: [] for name in systems}
    for r in range(ROUNDS):
        for name in (list(systems) if r % 2 == 0 else list(systems)[::-1]):
            port, pid = systems[name]
            wrk(f"http://127.0.0.1:{port}{path}", conns, 1, host=host)
            runs[name].append(measured(port, conns, pid, path, host))
            print(f"  c={conns} round {r + 1} {name}: {runs[name][-1]['rps']:.0f} req/s", file=sys.stderr)
    return runs


def balancer_cost(procs, d):
    backends = [free_port() for _ in range(4)]
    procs.start("backend", ["nginx", "-c", write(d, "backend.conf", backend_conf(d, backends)), "-e", f"{d}/b.err"], d)
    wait_port(backends[0])
    systems = {
        "versiongate, 1 target": vg_with_targets(procs, d, "vg1", backends[:1]),
        "versiongate, 4 targets": vg_with_targets(procs, d, "vg4", backends),
        "nginx, 1 server": nginx_with_servers(procs, d, "nginx1", backends[:1]),
        "nginx, 4 servers (least_conn)": nginx_with_servers(procs, d, "nginx4", backends),
    }
    for port, _ in systems.values():
        wait_port(port)
    return {conns: rounds(systems, conns) for conns in (1, 64)}


def app_scaling(procs, d, testapp):
    repo, project = testapp_project(d, testapp, f"cpus = {APP_CPUS}\n")
    port, admin, token, proc = start_gateway(procs, d, project, "vgapp")
    url = f"file://{repo}"
    results = {}
    try:
        for replicas in (1, 4):
            code, _ = api(admin, token, "PATCH", "/api/v1/projects/benchapp", {"replicas": replicas})
            ended = wait_settled(admin, token, signed_push(admin, url, commit_version(repo, f"r{replicas}")))
            if code >= 300 or ended["status"] != "ACTIVE":
                raise SystemExit(f"the {replicas}-replica deploy failed: {ended.get('error')}")
            runs = rounds({f"{replicas} replica{'s' if replicas > 1 else ''}": (port, proc.pid)}, 64, "/4k", "app.test")
            results.update(runs)
    finally:
        import subprocess
        names = subprocess.run(["docker", "ps", "-aq", "--filter", "label=versiongate.project=benchapp"],
                               capture_output=True, text=True).stdout.split()
        if names:
            subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
    return results


def rows_of(runs, base=None):
    rows = []
    first = next(iter(runs.values()))
    for name, rs in runs.items():
        rps, p99, cpu = (median_of(rs, k) for k in ("rps", "p99", "cpu_us"))
        errors = sum(r["socket_errors"] + r["non2xx"] for r in rs)
        ref = runs[base] if base else first
        rows.append([name, f"{rps:,.0f}", f"{rps / median_of(ref, 'rps'):.2f}", f"{p99:.3f}", f"{cpu:.1f}",
                     f"{cpu / median_of(ref, 'cpu_us'):.2f}", errors])
    return rows


def main():
    testapp = sys.argv[1]
    procs = Processes()
    d = tempfile.mkdtemp(prefix="vg-bench-replicas-")
    try:
        cost = balancer_cost(procs, d)
        scaling = app_scaling(procs, d, testapp)
    finally:
        procs.stop_all()
    print(f"# bench-replicas: {ROUNDS} rounds of {SECONDS} s per system and case, medians; one proxy worker each\n")
    headers = ["system", "req/s", "ratio", "p99 ms", "cpu us/req", "ratio", "errors"]
    for conns, runs in cost.items():
        print(f"## The balancer's cost: tiny response, {conns} connection{'s' if conns > 1 else ''}\n")
        print(table(headers, rows_of(runs)))
        print()
    print(f"## An app limited to cpus = {APP_CPUS} per container: 4 KiB response, 64 connections, through versiongate\n")
    print(table(["replicas", "req/s", "x 1 replica", "p99 ms", "gateway cpu us/req", "x 1 replica", "errors"],
                rows_of(scaling)))
    save_json({"balancer": {str(c): {k: [{x: y for x, y in r.items() if x != "raw"} for r in v] for k, v in runs.items()}
                            for c, runs in cost.items()},
               "scaling": {k: [{x: y for x, y in r.items() if x != "raw"} for r in v] for k, v in scaling.items()}})


if __name__ == "__main__":
    main()
