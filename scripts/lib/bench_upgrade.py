"""Restarting or upgrading the proxy itself under load: versiongate (`versiongate upgrade`, and a plain stop +
start for contrast) vs nginx (`-s reload`, and the binary upgrade USR2 + WINCH + QUIT) vs Caddy (`caddy reload`)
vs HAProxy (`-sf` reload). The same static backend (tools/testapp), the same two bounded wrk loads (16 keep-alive
connections, GET / and POST 2 KiB alternating; 4 connections sending `Connection: close`, so every request opens
a new connection), and the same number of restarts for each. Prints failed requests for each system.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT, TARGET, Processes, api, free_port, save_json, start_gateway, table, wait_port
from bench_deploy import LUA, parse_wrk

RESTARTS = int(os.environ.get("BENCH_UPGRADES", "10"))
GAP = 1.0  # seconds between restarts, after each has completed


def wrk_argv(d, port, fresh):
    conns = ["-c4", "-H", "Connection: close"] if fresh else ["-c16"]
    return ["wrk", "-t1", *conns, "-d900s", "--latency", "--timeout", "10s", "-s", os.path.join(d, "load.lua"),
            "-H", "Host: app.test", f"http://127.0.0.1:{port}/"]


def across(d, port, restart):
    """Both loads running across RESTARTS restarts; returns (keep-alive, fresh) wrk figures and the seconds taken."""
    loads = [subprocess.Popen(wrk_argv(d, port, fresh), stdout=subprocess.PIPE, text=True) for fresh in (False, True)]
    time.sleep(1)
    started = time.time()
    for i in range(RESTARTS):
        restart(i)
        time.sleep(GAP)
    took = time.time() - started
    for load in loads:
        load.send_signal(signal.SIGINT)
    kept, fresh = (parse_wrk(load.communicate(timeout=60)[0]) for load in loads)
    return kept, fresh, took


def pid_from(path, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return int(open(path).read().strip())
        except (FileNotFoundError, ValueError):
            time.sleep(0.02)
    raise SystemExit(f"no pid in {path} after {timeout}s")


def kill_pid(pid, sig=signal.SIGTERM):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def bench_versiongate(d, procs, backend, upgrade=True):
    name = "vg-upgrade" if upgrade else "vg-restart"
    project = f'name = "app"\ndomains = ["app.test"]\nruntime = "external"\nobserve_s = 0\nhealth_path = "/"\n'
    port, admin, token, proc = start_gateway(procs, d, project, name=name)
    status, dep = api(admin, token, "POST", "/api/v1/projects/app/deployments", {"target": f"127.0.0.1:{backend}"})
    assert status == 202, dep
    deadline = time.time() + 30
    while api(admin, token, "GET", "/healthz")[1].get("live") != 1 and time.time() < deadline:
        time.sleep(0.1)
    cli = os.path.join(TARGET, "release", "versiongate")
    env = {**os.environ, "VERSIONGATE_URL": f"http://127.0.0.1:{admin}", "VERSIONGATE_TOKEN": token}
    current = {"proc": proc, "pid": proc.pid}

    def restart(_i):
        if upgrade:
            out = subprocess.run([cli, "upgrade"], env=env, capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise SystemExit(f"versiongate upgrade failed: {out.stdout}{out.stderr}")
            current["pid"] = api(admin, token, "GET", "/healthz")[1]["pid"]
        else:
            procs.stop(current["proc"])
            current["proc"] = procs.start(name, [cli, "serve", "--config", os.path.join(d, f"{name}.toml")], d,
                                          {"RUST_LOG": "warn"})
            wait_port(port)
    try:
        return across(d, port, restart)
    finally:
        kill_pid(current["pid"])
        time.sleep(1)


def nginx_conf(d, name, listen, backend):
    conf = os.path.join(d, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; pid {d}/{name}.pid; error_log {d}/{name}-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off;
  upstream app {{ server 127.0.0.1:{backend}; keepalive 32; }}
  server {{ listen 127.0.0.1:{listen}; client_max_body_size 10m;
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
""")
    return conf


def bench_nginx(d, backend, binary_upgrade):
    name = "nginx-usr2" if binary_upgrade else "nginx-reload"
    listen = free_port()
    conf = nginx_conf(d, name, listen, backend)
    # Daemonised, as in production: the binary upgrade needs the master to start its successor itself,
    # from the absolute path it was started with.
    subprocess.run([shutil.which("nginx"), "-c", conf, "-e", f"{d}/{name}.err"], check=True)
    pid_file = f"{d}/{name}.pid"
    wait_port(listen)

    def restart(_i):
        if not binary_upgrade:
            subprocess.run(["nginx", "-c", conf, "-e", f"{d}/{name}.err", "-s", "reload"], check=True)
            return
        old = pid_from(pid_file)
        os.kill(old, signal.SIGUSR2)
        deadline = time.time() + 10
        while (not os.path.exists(pid_file + ".oldbin") or pid_from(pid_file) == old) and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # the new master's workers start
        os.kill(old, signal.SIGWINCH)
        os.kill(old, signal.SIGQUIT)
        while os.path.exists(pid_file + ".oldbin") and time.time() < deadline + 20:
            time.sleep(0.05)
    try:
        return across(d, listen, restart)
    finally:
        kill_pid(pid_from(pid_file), signal.SIGQUIT)
        time.sleep(1)


def bench_caddy(d, procs, backend):
    listen, admin = free_port(), free_port()
    caddyfile = os.path.join(d, "Caddyfile")
    with open(caddyfile, "w") as f:
        f.write(f"{{\n  admin 127.0.0.1:{admin}\n  auto_https off\n}}\nhttp://app.test:{listen} {{\n"
                f"  bind 127.0.0.1\n  reverse_proxy 127.0.0.1:{backend}\n}}\n")
    procs.start("caddy", ["caddy", "run", "--config", caddyfile, "--adapter", "caddyfile"], d,
                {"GOMAXPROCS": "1", "HOME": d, "XDG_DATA_HOME": d, "XDG_CONFIG_HOME": d})
    wait_port(listen)

    def restart(i):
        # A reload with an unchanged config is a no-op for Caddy: change a comment so it really reloads.
        with open(caddyfile, "a") as f:
            f.write(f"# reload {i}\n")
        subprocess.run(["caddy", "reload", "--config", caddyfile, "--adapter", "caddyfile", "--address",
                        f"127.0.0.1:{admin}", "--force"], check=True, capture_output=True, env={**os.environ, "HOME": d})
    return across(d, listen, restart)


def bench_haproxy(d, backend):
    listen = free_port()
    cfg, pid_file = os.path.join(d, "haproxy.cfg"), os.path.join(d, "haproxy.pid")
    with open(cfg, "w") as f:
        f.write(f"""global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:{listen}
  default_backend be
backend be
  http-reuse always
  server app 127.0.0.1:{backend}
""")
    subprocess.run(["haproxy", "-D", "-f", cfg, "-p", pid_file], check=True)
    wait_port(listen)

    def restart(_i):
        old = open(pid_file).read().split()
        subprocess.run(["haproxy", "-D", "-f", cfg, "-p", pid_file, "-sf", *old], check=True)
    try:
        return across(d, listen, restart)
    finally:
        for pid in open(pid_file).read().split():
            kill_pid(int(pid))
        time.sleep(1)


def main():
    testapp = sys.argv[1]
    procs = Processes()
    d = tempfile.mkdtemp(prefix="vg-bench-upgrade-")
    with open(os.path.join(d, "load.lua"), "w") as f:
        f.write(LUA)
    backend = free_port()
    procs.start("testapp", [testapp], d, {"PORT": str(backend), "VERSION": "v1"})
    wait_port(backend)
    results = {}
    try:
        results["versiongate upgrade"] = bench_versiongate(d, procs, backend)
        results["versiongate stop + start"] = bench_versiongate(d, procs, backend, upgrade=False)
        results["nginx -s reload"] = bench_nginx(d, backend, binary_upgrade=False)
        results["nginx binary upgrade (USR2, WINCH, QUIT)"] = bench_nginx(d, backend, binary_upgrade=True)
        results["caddy reload"] = bench_caddy(d, procs, backend)
        results["haproxy -sf"] = bench_haproxy(d, backend)
    finally:
        procs.stop_all()
        shutil.rmtree(d, ignore_errors=True)
    report(results)


def report(results):
    print(f"# bench-upgrade: {RESTARTS} restarts or upgrades of each proxy under two wrk loads\n"
          "# (16 keep-alive connections; 4 connections with Connection: close, a new connection per request)\n")
    rows = []
    for name, (kept, fresh, took) in results.items():
        failed = sum(r["socket_errors"] + r["non2xx"] for r in (kept, fresh))
        total = kept["requests"] + fresh["requests"]
        rows.append([name, RESTARTS, f"{took:.1f}", kept["requests"], kept["socket_errors"] + kept["non2xx"],
                     fresh["requests"], fresh["socket_errors"] + fresh["non2xx"], f"{100 * failed / max(total, 1):.3f}%"])
    print(table(["system", "restarts", "seconds", "keep-alive requests", "failed", "new-connection requests",
                 "failed", "failed share"], rows))
    save_json({name: {"keep_alive": k, "fresh": f, "seconds": t} for name, (k, f, t) in results.items()})


if __name__ == "__main__":
    main()
