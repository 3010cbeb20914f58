//! A real local git repository holding a `FROM scratch` app: Debian's static busybox serving `/www`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BUSYBOX: &str = "/bin/busybox";

pub const DOCKERFILE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nCOPY www /www\n\
CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"3000\", \"-h\", \"/www\"]\n";

pub struct AppRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl AppRepo {
    /// A repo on branch `main` holding `files`, committed.
    pub fn with_files(files: &[(&str, &str)]) -> AppRepo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app");
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "-q"]);
        let repo = AppRepo { _dir: dir, path };
        for (file, text) in files {
            repo.write(file, text);
        }
        repo.commit("initial");
        repo
    }

    /// A repo on branch `main` whose app answers `/` with `version` and `/health` with ok.
    pub fn new(version: &str) -> AppRepo {
        assert!(Path::new(BUSYBOX).exists(), "{BUSYBOX} is missing: run scripts/test, which installs busybox-static");
        let repo = AppRepo::with_files(&[]);
        std::fs::create_dir_all(repo.path.join("www")).unwrap();
        std::fs::copy(BUSYBOX, repo.path.join("busybox")).unwrap();
        repo.write("Dockerfile", DOCKERFILE);
        repo.write("www/health", "ok\n");
        repo.write(".dockerignore", "*.md\n");
        repo.write("NOTES.md", "not sent to the engine\n");
        repo.release(version);
        repo
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn write(&self, file: &str, text: &str) {
        let p = self.path.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn remove(&self, file: &str) {
        let _ = std::fs::remove_file(self.path.join(file));
    }

    /// Commits everything; returns the new commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        git(&self.path, &["add", "-A"]);
        git(&self.path, &["commit", "-q", "--allow-empty", "-m", message]);
        git(&self.path, &["rev-parse", "HEAD"])
    }

    /// Sets the page to `version` and commits.
    pub fn release(&self, version: &str) -> String {
        self.write("www/index.html", version);
        self.commit(version)
    }

    pub fn tag(&self, name: &str) {
        git(&self.path, &["tag", name]);
    }

    /// Adds `other` as a submodule at `path` and commits.
    pub fn add_submodule(&self, other: &AppRepo, path: &str) -> String {
        git(&self.path, &["-c", "protocol.file.allow=always", "submodule", "add", "-q", &other.url(), path]);
        self.commit("add submodule")
    }
}

/// Removes a test project's containers and images, by the names the contract gives them.
pub struct DockerCleanup(pub String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let p = &self.0;
        let _ = Command::new("docker").args(["rm", "-f", &format!("{p}-blue"), &format!("{p}-green")]).output();
        // Replicas (`<p>-<slot>-<n>`), found by the project label.
        let label = format!("label=versiongate.project={p}");
        if let Ok(out) = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
            if !ids.is_empty() {
                let _ = Command::new("docker").arg("rm").arg("-f").args(&ids).output();
            }
        }
        if let Ok(out) = Command::new("docker").args(["images", "-q", &format!("versiongate/{p}")]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
            if !ids.is_empty() {
                let _ = Command::new("docker").arg("rmi").arg("-f").args(&ids).output();
            }
        }
    }
}

/// `docker inspect` of one field, through the CLI (the tests' view, not the product's).
pub fn inspect(container: &str, format: &str) -> Option<String> {
    let out = Command::new("docker").args(["inspect", "-f", format, container]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl AppRepo {
    /// Points GitHub's `refs/pull/N/head` at the current commit, as GitHub does for every pull request.
    pub fn pull_ref(&self, number: u32) {
        git(&self.path, &["update-ref", &format!("refs/pull/{number}/head"), "HEAD"]);
    }

    /// Switches to `branch`, creating it from the current commit when new.
    pub fn branch(&self, branch: &str) {
        if git(&self.path, &["branch", "--list", branch]).is_empty() {
            git(&self.path, &["checkout", "-q", "-b", branch]);
        } else {
            git(&self.path, &["checkout", "-q", branch]);
        }
    }
}
