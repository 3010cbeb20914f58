"""Deploys under load: versiongate vs an nginx include rewrite + reload vs `docker rm -f` + `docker run`.

The same static app image (tools/testapp), the same bounded wrk load (keep-alive, GET / and POST /echo
with a 2 KiB body, alternating), and the same number of deploys for each. Prints socket errors, non-2xx
answers and p99 during the deploys against a steady run, versiongate's push-to-live phases and a rollback.
"""

import hashlib
from datetime import datetime
import hmac
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import re

from benchlib import Processes, api, free_port, save_json, start_gateway, table, to_ms, wait_port, wait_settled, ROOT

DEPLOYS = int(os.environ.get("BENCH_DEPLOYS", "10"))
STEADY = int(os.environ.get("BENCH_STEADY_SECONDS", "10"))
SECRET = "bench-secret"
LUA = """local body = string.rep("x", 2048)
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then return wrk.format("POST", "/echo", {["Content-Type"] = "text/plain"}, body) end
  return wrk.format("GET", "/")
end
"""


def sh(*argv, cwd=None):
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def parse_wrk(out):
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": int(re.search(r"(\d+) requests in", out).group(1)), "p99": p99,
            "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def wrk_argv(d, port, host, seconds):
    return ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", os.path.join(d, "load.lua"),
            "-H", f"Host: {host}", f"http://127.0.0.1:{port}/"]


def under_load(d, port, host, deploy):
    """A steady run, then the same load across `DEPLOYS` deploys (wrk is stopped with SIGINT, and prints)."""
    steady = parse_wrk(sh(*wrk_argv(d, port, host, STEADY)))
    load = subprocess.Popen(wrk_argv(d, port, host, 900), stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    started = time.time()
    for i in range(1, DEPLOYS + 1):
        deploy(i)
    took = time.time() - started
    time.sleep(1)
    load.send_signal(signal.SIGINT)
    during = parse_wrk(load.communicate(timeout=30)[0])
    return steady, during, took


def image(d, version):
    tag = f"vg-bench-app:{version}"
    sh("docker", "build", "-q", "-t", tag, "--build-arg", f"VERSION={version}", d)
    return tag


def docker_run(name, tag, port):
    sh("docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:3000", tag)


def wait_http(port, path="/health", timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing healthy on {port}")


def bench_docker_run(d):
    port = free_port()
    docker_run("vg-bench-plain", image(d, "v0"), port)
    wait_http(port)

    def deploy(i):
        tag = image(d, f"v{i}")
        sh("docker", "rm", "-f", "vg-bench-plain")
        docker_run("vg-bench-plain", tag, port)
        wait_http(port)
    try:
        return under_load(d, port, "app.test", deploy)
    finally:
        subprocess.run(["docker", "rm", "-f", "vg-bench-plain"], capture_output=True)


def bench_nginx_reload(d, procs):
    ports, listen = [free_port(), free_port()], free_port()
    include = os.path.join(d, "upstream.conf")
    # The include holds the upstream block, with keep-alive to the app, as a tuned reload script has it.
    write_include = lambda p: open(include, "w").write(f"upstream app {{ server 127.0.0.1:{p}; keepalive 32; }}\n")
    conf = os.path.join(d, "nginx-reload.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {d}/nr.pid; error_log {d}/nr-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off;
  include {include};
  server {{ listen 127.0.0.1:{listen}; client_max_body_size 10m;
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
""")
    docker_run("vg-bench-blue", image(d, "v0"), ports[0])
    wait_http(ports[0])
    write_include(ports[0])
    procs.start("nginx-reload", ["nginx", "-c", conf, "-e", f"{d}/nr.err"], d)
    wait_port(listen)
    names = ["vg-bench-blue", "vg-bench-green"]

    def deploy(i):
        new, old = i % 2, (i + 1) % 2
        subprocess.run(["docker", "rm", "-f", names[new]], capture_output=True)
        docker_run(names[new], image(d, f"v{i}"), ports[new])
        wait_http(ports[new])
        write_include(ports[new])
        sh("nginx", "-c", conf, "-e", f"{d}/nr.err", "-s", "reload")
        time.sleep(1)  # what such scripts do before stopping the old container
        sh("docker", "stop", "-t", "2", names[old])
    try:
        return under_load(d, listen, "app.test", deploy)
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)


def signed_push(admin, repo_url, sha):
    fixture = os.path.join(ROOT, "tests", "fixtures", "github", "push-new-branch.json")
    payload = json.load(open(fixture))
    payload.update({"ref": "refs/heads/main", "after": sha})
    payload["head_commit"]["id"] = sha
    for key in ("clone_url", "ssh_url", "html_url", "git_url"):
        payload["repository"][key] = repo_url
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/webhooks/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": sig,
        "X-GitHub-Delivery": hashlib.md5(body).hexdigest()})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["id"]


def git(repo, *args):
    return sh("git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args, cwd=repo)


def commit_version(repo, version):
    with open(os.path.join(repo, "Dockerfile"), "w") as f:
        f.write(f"FROM scratch\nCOPY testapp /app\nENV VERSION={version}\nCMD [\"/app\"]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", version)
    return git(repo, "rev-parse", "HEAD")


def phases(admin, token, deployment_id):
    """Seconds spent in each phase, from the deployment's events."""
    _, d = api(admin, token, "GET", f"/api/v1/deployments/{deployment_id}")
    events = d.get("events", [])
    spent = {}
    for a, b in zip(events, events[1:]):
        gap = datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])
        spent[a["phase"]] = spent.get(a["phase"], 0) + gap.total_seconds()
    return spent


def testapp_project(d, testapp, extra=""):
    """A git repo in `d` holding the static test app, and the `benchapp` project (app.test) that builds it."""
    repo = os.path.join(d, "repo")
    os.makedirs(repo)
    shutil.copy(testapp, os.path.join(repo, "testapp"))
    git(repo, "init", "-q", "-b", "main")
    project = f"""name = "benchapp"
domains = ["app.test"]
repo_url = "file://{repo}"
webhook_secret = "{SECRET}"
health_interval_ms = 100
healthy_threshold = 2
drain_timeout_s = 5
stop_timeout_s = 2
observe_s = 0
{extra}"""
    return repo, project


def bench_versiongate(d, procs, testapp):
    repo, project = testapp_project(d, testapp)
    port, admin, token, _ = start_gateway(procs, d, project)
    url = f"file://{repo}"
    first = wait_settled(admin, token, signed_push(admin, url, commit_version(repo, "v0")))
    if first["status"] != "ACTIVE":
        raise SystemExit(f"the first versiongate deploy failed: {first.get('error')}")
    breakdown = []

    def deploy(i):
        ended = wait_settled(admin, token, signed_push(admin, url, commit_version(repo, f"v{i}")))
        if ended["status"] != "ACTIVE":
            raise SystemExit(f"versiongate deploy {i} failed: {ended.get('error')}")
        breakdown.append(phases(admin, token, ended["id"]))
    try:
        steady, during, took = under_load(d, port, "app.test", deploy)
        started = time.time()
        code, back = api(admin, token, "POST", "/api/v1/projects/benchapp/rollback", {})
        rolled = wait_settled(admin, token, back["id"]) if code < 300 else {"status": f"HTTP {code}"}
        rollback_s = time.time() - started
        return (steady, during, took), breakdown, (rolled["status"], rollback_s)
    finally:
        sh_quiet = lambda *a: subprocess.run(a, capture_output=True)
        sh_quiet("docker", "rm", "-f", "benchapp-blue", "benchapp-green")


def main():
    testapp = sys.argv[1]
    procs = Processes()
    d = tempfile.mkdtemp(prefix="vg-bench-deploy-")
    os.chmod(d, 0o755)
    shutil.copy(testapp, os.path.join(d, "testapp"))
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write("FROM scratch\nCOPY testapp /app\nARG VERSION\nENV VERSION=$VERSION\nCMD [\"/app\"]\n")
    with open(os.path.join(d, "load.lua"), "w") as f:
        f.write(LUA)
    results = {}
    try:
        vg, breakdown, rollback = bench_versiongate(d, procs, testapp)
        results["versiongate"] = vg
        results["nginx include + reload"] = bench_nginx_reload(d, procs)
        results["docker rm -f + run"] = bench_docker_run(d)
    finally:
        procs.stop_all()
    report(results, breakdown, rollback)


def report(results, breakdown, rollback):
    print(f"# bench-deploy: {DEPLOYS} deploys each under wrk (16 keep-alive connections, GET / and POST 2 KiB)\n")
    rows = []
    for name, (steady, during, took) in results.items():
        failed = during["socket_errors"] + during["non2xx"]
        rows.append([name, DEPLOYS, f"{took:.1f}", during["requests"], during["socket_errors"], during["non2xx"],
                     f"{100 * failed / max(during['requests'], 1):.3f}%", f"{steady['p99']:.2f}", f"{during['p99']:.2f}"])
    print(table(["system", "deploys", "seconds", "requests", "socket errors", "non-2xx", "failed", "p99 steady ms",
                 "p99 deploying ms"], rows))
    print("\nversiongate push-to-live, median seconds per phase over the deploys:\n")
    names = ["queued", "fetching", "building", "starting", "health_checking", "switching", "draining"]
    med = {n: statistics.median(b.get(n, 0) for b in breakdown) for n in names}
    print(table(names + ["total"], [[f"{med[n]:.2f}" for n in names] + [f"{sum(med.values()):.2f}"]]))
    print(f"\nversiongate rollback to the previous image: {rollback[0]} in {rollback[1]:.2f} s")
    save_json({"results": results, "breakdown": breakdown, "rollback": rollback})


if __name__ == "__main__":
    main()
