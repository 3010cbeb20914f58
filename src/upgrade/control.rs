//! The control socket (`data_dir/upgrade-control.sock`) between a gateway and the successor it started:
//! one line per message, successor to old process.

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Child;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error("cannot open the upgrade control socket {path}: {source}. Check that data_dir is writable")]
    Listen { path: String, source: std::io::Error },
}

/// What the successor says, in order: `waiting`, then `serving PID VERSION`, or `failed MESSAGE` at any point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    Waiting,
    Serving { pid: u32, version: String },
    Failed(String),
}

impl Message {
    fn line(&self) -> String {
        match self {
            Message::Waiting => "waiting\n".into(),
            Message::Serving { pid, version } => format!("serving {pid} {version}\n"),
            Message::Failed(error) => format!("failed {}\n", error.replace('\n', " ")),
        }
    }

    fn parse(line: &str) -> Option<Message> {
        let (word, rest) = line.trim_end().split_once(' ').unwrap_or((line.trim_end(), ""));
        match word {
            "waiting" => Some(Message::Waiting),
            "serving" => {
                let (pid, version) = rest.split_once(' ')?;
                Some(Message::Serving { pid: pid.parse().ok()?, version: version.to_owned() })
            }
            "failed" => Some(Message::Failed(rest.to_owned())),
            _ => None,
        }
    }
}

pub(super) fn listen(path: &Path) -> Result<UnixListener, ControlError> {
    let fail = |source| ControlError::Listen { path: path.display().to_string(), source };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    UnixListener::bind(path).map_err(fail)
}

/// Reads the successor's messages until it serves or fails; `on_waiting` runs when it waits for the sockets.
/// A successor that exits without saying why has failed, with its exit status as the reason.
pub(super) async fn follow(listener: &UnixListener, child: &mut Child, on_waiting: impl FnOnce()) -> Message {
    let stream = tokio::select! {
        accepted = listener.accept() => accepted.ok().map(|(stream, _)| stream),
        status = child.wait() => {
            // It may have connected and said why just before it exited.
            match tokio::time::timeout(LAST_WORDS, listener.accept()).await {
                Ok(Ok((stream, _))) => Some(stream),
                _ => return exited(status),
            }
        }
    };
    if let Some(stream) = stream {
        if let Some(end) = read(stream, on_waiting).await {
            return end;
        }
    }
    exited(child.wait().await)
}

/// The successor's messages until `serving` or `failed`; `None` when it hung up without either.
async fn read(stream: UnixStream, on_waiting: impl FnOnce()) -> Option<Message> {
    let mut lines = BufReader::new(stream).lines();
    let mut on_waiting = Some(on_waiting);
    while let Ok(Some(line)) = lines.next_line().await {
        match Message::parse(&line) {
            Some(Message::Waiting) => {
                if let Some(f) = on_waiting.take() {
                    f();
                }
            }
            Some(end) => return Some(end),
            None => {}
        }
    }
    None
}

fn exited(status: std::io::Result<std::process::ExitStatus>) -> Message {
    let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
    Message::Failed(format!(
        "the new binary exited ({status}) before it served; its own error is in the log above this line"
    ))
}

/// How long after the successor exited its last message is still looked for.
const LAST_WORDS: Duration = Duration::from_millis(300);

/// The successor's side: set when this process was started by an upgrade.
pub(crate) struct Successor {
    /// The process being replaced.
    pub(crate) old_pid: u32,
    stream: Mutex<Option<std::os::unix::net::UnixStream>>,
}

impl Successor {
    /// From the environment an upgrading gateway sets; `None` on an ordinary start. One connection per
    /// process: `main` and the services say their piece on the same one.
    pub(crate) fn get() -> Option<&'static Successor> {
        static ONE: OnceLock<Option<Successor>> = OnceLock::new();
        ONE.get_or_init(Successor::from_env).as_ref()
    }

    fn from_env() -> Option<Successor> {
        let path = std::env::var_os(super::SOCKET_ENV)?;
        let old_pid = std::env::var(super::FROM_ENV).ok()?.parse().ok()?;
        let stream = match std::os::unix::net::UnixStream::connect(&path) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("upgrade: cannot reach the old process's control socket: {e}");
                None
            }
        };
        Some(Successor { old_pid, stream: Mutex::new(stream) })
    }

    pub(crate) fn waiting(&self) {
        self.say(&Message::Waiting);
    }

    pub(crate) fn serving(&self) {
        self.say(&Message::Serving { pid: std::process::id(), version: env!("CARGO_PKG_VERSION").into() });
    }

    pub(crate) fn failed(&self, error: &str) {
        self.say(&Message::Failed(error.to_owned()));
    }

    fn say(&self, message: &Message) {
        let mut stream = crate::lock::lock(&self.stream);
        if let Some(s) = stream.as_mut() {
            if let Err(e) = s.write_all(message.line().as_bytes()) {
                tracing::warn!("upgrade: cannot tell the old process `{}`: {e}", message.line().trim_end());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_the_line_format() {
        for m in [
            Message::Waiting,
            Message::Serving { pid: 42, version: "0.4.0".into() },
            Message::Failed("invalid configuration: line 3".into()),
        ] {
            assert_eq!(Message::parse(&m.line()), Some(m.clone()), "{m:?}");
        }
        assert_eq!(Message::parse(&Message::Failed("a\nb".into()).line()), Some(Message::Failed("a b".into())));
        assert_eq!(Message::parse("serving x 1\n"), None);
        assert_eq!(Message::parse("hello\n"), None);
    }
}
