//! The optional nginx include output: one `upstream` block per project, written atomically, tested, reloaded.
//!
//! For people who keep nginx in front: their site does `proxy_pass http://versiongate_<project>;`
//! and versiongate rewrites the block on every switch.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Command;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub(crate) enum NginxError {
    #[error("cannot write {path}: {source}. Check that [nginx] include_dir exists and is writable")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("`{command}` rejected the new include file, so the previous one was restored and the switch was not made: {output}")]
    TestFailed { command: String, output: String },
}

#[derive(Debug, Clone)]
pub struct NginxOutput {
    pub(crate) include_dir: PathBuf,
    pub(crate) test_command: String,
    pub(crate) reload_command: String,
}

/// The include file for a project that now lives at `addrs`, one server per replica (pure).
pub(crate) fn render(project: &str, addrs: &[SocketAddr]) -> String {
    let servers: String = addrs.iter().map(|addr| format!("    server {addr};\n")).collect();
    // nginx's least_conn is the nearest to the gateway's fewest-in-flight rule.
    let balance = if addrs.len() > 1 { "    least_conn;\n" } else { "" };
    format!(
        "# Written by versiongate on every switch of project {project}; edits are overwritten.\n\
         upstream versiongate_{project} {{\n{balance}{servers}    keepalive 16;\n}}\n"
    )
}

impl NginxOutput {
    fn path(&self, project: &str) -> PathBuf {
        self.include_dir.join(format!("{project}.conf"))
    }

    /// Writes the block, runs the test command (restoring the old file if it fails), then reloads.
    /// Returns a warning when the reload failed: the file is valid, but nginx still serves the old one.
    pub(crate) async fn publish(&self, project: &str, addrs: &[SocketAddr]) -> Result<Option<String>, NginxError> {
        let path = self.path(project);
        let previous = std::fs::read_to_string(&path).ok();
        self.write(project, &render(project, addrs))?;
        if let Err(output) = run(&self.test_command).await {
            match &previous {
                Some(text) => self.write(project, text)?,
                None => drop(std::fs::remove_file(&path)),
            }
            return Err(NginxError::TestFailed { command: self.test_command.clone(), output });
        }
        Ok(run(&self.reload_command).await.err().map(|output| format!("`{}` failed: {output}", self.reload_command)))
    }

    /// Temp file then rename, so nginx never reads half a file.
    fn write(&self, project: &str, text: &str) -> Result<(), NginxError> {
        let path = self.path(project);
        let tmp = self.include_dir.join(format!(".{project}.conf.tmp"));
        let err = |source| NginxError::Write { path: path.clone(), source };
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}

/// Runs a command line through `sh -c`; `Err` carries what it printed.
async fn run(command: &str) -> Result<(), String> {
    let child = Command::new("sh").arg("-c").arg(command).kill_on_drop(true).output();
    match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => Err(format!("no answer within {}s", COMMAND_TIMEOUT.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let text =
                String::from_utf8_lossy(&out.stderr).trim().to_owned() + String::from_utf8_lossy(&out.stdout).trim();
            Err(format!("{} ({})", text, out.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_names_the_project_and_its_live_address() {
        let text = render("my-app", &["127.0.0.1:20001".parse().unwrap()]);
        assert!(text.contains("upstream versiongate_my-app {\n    server 127.0.0.1:20001;\n"), "{text}");
        let two = render("app", &["127.0.0.1:20001".parse().unwrap(), "127.0.0.1:20003".parse().unwrap()]);
        assert!(
            two.contains("{\n    least_conn;\n    server 127.0.0.1:20001;\n    server 127.0.0.1:20003;\n"),
            "{two}"
        );
    }

    #[tokio::test]
    async fn a_failed_test_restores_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("broken");
        let output = NginxOutput {
            include_dir: dir.path().to_owned(),
            test_command: format!("test ! -e {}", flag.display()),
            reload_command: "true".into(),
        };
        let (a, b) = (&["127.0.0.1:1".parse().unwrap()][..], &["127.0.0.1:2".parse().unwrap()][..]);
        assert_eq!(output.publish("app", a).await.unwrap(), None);
        std::fs::write(&flag, "").unwrap();
        let err = output.publish("app", b).await.unwrap_err();
        assert!(err.to_string().contains("previous one was restored"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join("app.conf")).unwrap(), render("app", a));
        assert!(output.publish("new", b).await.is_err());
        assert!(!dir.path().join("new.conf").exists(), "a first file that fails its test is removed");
    }
}
