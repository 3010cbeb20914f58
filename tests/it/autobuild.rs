//! Repositories without a Dockerfile deploy from a push: the Dockerfile is generated for Node.js and Python.
//! No registry is reachable, so the configured base images are local stand-ins built from the host's own
//! `node` and `python3` (tests/it/harness/standin.rs). Bun has no Debian package: it is covered by the golden
//! plans in src/builder/golden.rs only.

use crate::harness;

use harness::repo::{AppRepo, DockerCleanup};
use harness::{standin, Gateway};
use serde_json::json;

const SECRET: &str = "autobuild-secret";
const NODE_IMAGE: &str = "versiongate-test/node:standin";
const PYTHON_IMAGE: &str = "versiongate-test/python:standin";

const NODE_SERVER: &str = "const http = require('http');\n\
http.createServer((req, res) => res.end(req.url === '/health' ? 'ok' : 'node app')).listen(process.env.PORT, '0.0.0.0');\n";
const NODE_LOCK: &str = r#"{"name":"app","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"app","version":"1.0.0"}}}"#;
const PYTHON_SERVER: &str = r#"import os, http.server

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/health" else b"python app"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"#;

async fn deploy_without_dockerfile(repo: &AppRepo, expected_body: &str, generated_for: &str) {
    let extra = format!("[build]\nnode_image = \"{NODE_IMAGE}\"\npython_image = \"{PYTHON_IMAGE}\"\n");
    let gw = Gateway::start_with(&extra).await;
    let name = harness::unique_name("a");
    let _cleanup = DockerCleanup(name.clone());
    let extra = json!({ "health_interval_ms": 200, "health_timeout_s": 30 });
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    let head = repo.commit("deploy me");
    let d = gw.wait_settled(gw.push(&repo.url(), "main", &head, SECRET).await).await;
    let log = gw.logs(&d["id"]).await;
    assert_eq!(d["status"], "ACTIVE", "{d}\n{log}");
    assert!(log.contains(&format!("generated one for {generated_for}")), "{log}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, expected_body.to_string()));
    assert!(
        !repo.path.join(".versiongate.Dockerfile").exists() && !repo.path.join(".dockerignore").exists(),
        "the checkout stays clean"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_app_without_a_dockerfile_deploys_from_a_push() {
    standin::node(NODE_IMAGE);
    let repo = AppRepo::with_files(&[
        ("package.json", r#"{"name":"app","version":"1.0.0","scripts":{"start":"node server.js"}}"#),
        ("package-lock.json", NODE_LOCK),
        (".npmrc", "audit=false\nfund=false\nupdate-notifier=false\n"),
        ("server.js", NODE_SERVER),
    ]);
    deploy_without_dockerfile(&repo, "node app", "Node").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_app_without_a_dockerfile_deploys_from_a_push() {
    standin::python(PYTHON_IMAGE);
    let repo = AppRepo::with_files(&[("requirements.txt", ""), ("main.py", PYTHON_SERVER)]);
    deploy_without_dockerfile(&repo, "python app", "Python").await;
}
