//! Upgrading a test gateway in place: `versiongate upgrade` through the CLI, and a copy of the binary
//! that a test may replace with a broken one.

use super::Gateway;
use std::path::PathBuf;
use std::process::Command;

/// What `versiongate upgrade` did: its exit code, stdout and stderr.
pub struct Upgraded {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Gateway {
    /// Runs `versiongate upgrade`; on success the new process becomes this gateway's (stopped with it).
    pub async fn upgrade(&mut self) -> Upgraded {
        let (url, token) = (self.admin_url(), self.token.clone());
        // The build's binary runs the command: the gateway's own may be a broken one under test.
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_versiongate"))
                .args(["upgrade", "--timeout", "60"])
                .env("VERSIONGATE_URL", url)
                .env("VERSIONGATE_TOKEN", token)
                .output()
                .expect("cannot run versiongate upgrade")
        })
        .await
        .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        let code = out.status.code().unwrap_or(-1);
        if code == 0 {
            // "upgraded: versiongate V (pid OLD) → V (pid NEW)"
            let new_pid = stdout.rsplit("(pid ").next().and_then(|t| t.trim_end().trim_end_matches(')').parse().ok());
            self.successors.push(new_pid.unwrap_or_else(|| panic!("no new pid in: {stdout}")));
            // Pooled admin connections lead to the old process, which is going away.
            self.http = super::client_builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
        }
        Upgraded { code, stdout, stderr }
    }

    /// Restarts the gateway from a copy of the binary in its own directory, which the test may overwrite;
    /// returns the copy's path.
    pub async fn restart_from_copy(&mut self) -> PathBuf {
        let copy = self.dir.path().join("bin/versiongate");
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_versiongate"), &copy).unwrap();
        self.binary = copy.clone();
        self.kill();
        self.spawn().await;
        copy
    }

    /// Whether process `pid` still runs (not a zombie).
    pub fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])))
    }
}

/// Writes `content` as an executable file at `path`, replacing what is there (a new inode, as `install` does).
pub fn install(path: &std::path::Path, content: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
