//! A pushed repository is untrusted: a symlink leading out of the checkout, a local submodule of a remote
//! repository, an oversized fetch, checkout or build context are each refused with an error naming them,
//! and the live version keeps serving. Remote repositories are served by `git daemon` on loopback.

use crate::harness;

use harness::repo::{AppRepo, DockerCleanup};
use harness::{unique_name, Gateway};
use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use std::process::{Child, Command, Stdio};

/// `git daemon` serving the directory that holds `repo`, killed by pid when dropped.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    async fn serve(repo: &AppRepo) -> GitDaemon {
        let port = harness::free_port();
        let base = repo.path.parent().unwrap();
        // `git-daemon` itself, not `git daemon`: the `git` wrapper runs it as a child of its own, which
        // killing the wrapper's pid would leave running.
        let exec_path = Command::new("git").arg("--exec-path").output().expect("git (Debian's) runs").stdout;
        let exec_path = String::from_utf8(exec_path).expect("a path").trim().to_owned();
        let child = Command::new(std::path::Path::new(&exec_path).join("git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon (Debian's git) runs");
        harness::eventually("git daemon listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
        GitDaemon { child, port }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/app", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn deploy(gw: &Gateway, name: &str) -> Value {
    let (code, d) = gw.api("POST", &format!("/api/v1/projects/{name}/deployments"), Some(json!({"ref": "main"}))).await;
    assert_eq!(code, 202, "{d}");
    gw.wait_settled(d["id"].as_i64().unwrap()).await
}

async fn fails_saying(gw: &Gateway, name: &str, words: &[&str]) -> Value {
    let d = deploy(gw, name).await;
    let error = d["error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(d["status"], "FAILED", "{d}");
    assert!(words.iter().all(|w| error.contains(w)), "{words:?} not in: {error}");
    d
}

/// `len` bytes that do not compress (a simple LCG), so a fetch really transfers them.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_checkout_are_refused_by_name_and_the_live_version_stays() {
    let gw = Gateway::start().await;
    let (name, repo) = (unique_name("sym"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    gw.add_docker_project(&name, &repo.url(), "s", json!({})).await;
    assert_eq!(deploy(&gw, &name).await["status"], "ACTIVE");
    let host = format!("{name}.test");

    // No Dockerfile, and the detection file is a link to a host file.
    repo.remove("Dockerfile");
    symlink("/etc/passwd", repo.path.join("package.json")).unwrap();
    repo.commit("package.json leads out");
    fails_saying(&gw, &name, &["`package.json` is a symlink that leads outside the repository"]).await;

    repo.remove("package.json");
    symlink("/etc/hostname", repo.path.join("Dockerfile")).unwrap();
    repo.commit("the Dockerfile leads out");
    fails_saying(&gw, &name, &["`Dockerfile` is a symlink"]).await;

    repo.remove("Dockerfile");
    repo.write("Dockerfile", harness::repo::DOCKERFILE);
    repo.remove(".dockerignore");
    symlink("/etc/shadow", repo.path.join(".dockerignore")).unwrap();
    repo.commit(".dockerignore leads out");
    fails_saying(&gw, &name, &["`.dockerignore` is a symlink"]).await;

    repo.remove(".dockerignore");
    symlink("/", repo.path.join("ctx")).unwrap();
    repo.commit("a context that is the host's root");
    let (code, _) = gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({"build_context": "ctx"}))).await;
    assert_eq!(code, 200);
    fails_saying(&gw, &name, &["`ctx` is a symlink"]).await;
    assert_eq!(gw.get(&host, "/").await, (200, "v1".into()), "the live version serves throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_repository_gets_no_local_submodule_and_its_fetch_and_checkout_are_bounded() {
    let gw = Gateway::start().await;
    let (lib, repo) = (AppRepo::new("lib"), AppRepo::new("v1"));
    repo.add_submodule(&lib, "lib");
    let daemon = GitDaemon::serve(&repo).await;
    let name = unique_name("sub");
    let _cleanup = DockerCleanup(name.clone());
    gw.add_docker_project(&name, &daemon.url(), "s", json!({})).await;
    let d = fails_saying(&gw, &name, &["submodule `lib` has the local URL `file://", "CVE-2022-39253"]).await;
    assert!(!gw.logs(&d["id"]).await.contains("building versiongate/"), "nothing was built");

    // The same repository from a local path may use it: git's rule is about remote parents.
    let local = unique_name("loc");
    let _cleanup_local = DockerCleanup(local.clone());
    gw.add_docker_project(&local, &repo.url(), "s", json!({})).await;
    assert_eq!(deploy(&gw, &local).await["status"], "ACTIVE");

    // 8 MiB that do not compress: the fetch stops past max_repo_mb = 4.
    let big = AppRepo::new("v1");
    std::fs::write(big.path.join("noise.bin"), noise(8 << 20)).unwrap();
    big.commit("noise");
    let big_daemon = GitDaemon::serve(&big).await;
    let fetched = unique_name("big");
    gw.add_docker_project(&fetched, &big_daemon.url(), "s", json!({"max_repo_mb": 4})).await;
    fails_saying(&gw, &fetched, &["the fetch is larger than max_repo_mb = 4 MiB"]).await;

    // 40 MiB of zeros fetch as a few KiB, but would check out as 40 MiB: refused before anything is written.
    let bomb = AppRepo::new("v1");
    std::fs::write(bomb.path.join("zeros.bin"), vec![0u8; 40 << 20]).unwrap();
    bomb.commit("zeros");
    let inflated = unique_name("bomb");
    gw.add_docker_project(&inflated, &bomb.url(), "s", json!({"max_repo_mb": 8})).await;
    fails_saying(&gw, &inflated, &["the checkout is larger than max_repo_mb = 8 MiB"]).await;
    let checkout = gw.data_dir().join("repos").join(&inflated).join("zeros.bin");
    assert!(!checkout.exists(), "the inflated file was never written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_context_over_max_context_mb_never_reaches_docker() {
    let gw = Gateway::start_with("[build]\nmax_context_mb = 1\n").await;
    let (name, repo) = (unique_name("ctx"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    std::fs::write(repo.path.join("www/big.bin"), noise(2 << 20)).unwrap();
    repo.commit("a 2 MiB asset");
    gw.add_docker_project(&name, &repo.url(), "s", json!({})).await;
    let d = fails_saying(&gw, &name, &["larger than [build] max_context_mb = 1 MiB", ".dockerignore"]).await;
    assert!(!gw.logs(&d["id"]).await.contains("building versiongate/"), "nothing was sent to the engine");
}
