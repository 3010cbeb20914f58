//! `versiongate upgrade`: asks the gateway to replace itself, then waits until another process answers,
//! or the old one reports why the new binary did not start.

use super::client::{Client, ClientError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);

/// Exit code 0 once the new process serves, 1 when the upgrade failed or timed out.
pub(crate) async fn upgrade(client: Client, timeout_s: u64) -> Result<i32, ClientError> {
    let client = client.unpooled();
    let before = client.post("/api/v1/upgrade", &json!({})).await?;
    let old = Process::of(&before);
    println!("upgrading versiongate {} (pid {}) to the binary at its path…", old.version, old.pid);
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    while Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        if let Ok(health) = client.get("/healthz").await {
            let now = Process::of(&health);
            if now.pid != old.pid && now.pid != 0 {
                println!("upgraded: versiongate {} (pid {}) → {} (pid {})", old.version, old.pid, now.version, now.pid);
                return Ok(0);
            }
        }
        if let Ok(state) = client.get("/api/v1/upgrade").await {
            if Process::of(&state).pid == old.pid && state["state"] == "failed" {
                let error = state["error"].as_str().unwrap_or("unknown error");
                eprintln!("upgrade failed: {error}");
                eprintln!("versiongate {} (pid {}) keeps serving", old.version, old.pid);
                return Ok(1);
            }
        }
    }
    eprintln!("upgrade: no new process answered within {timeout_s} s; see the gateway's log (GET /api/v1/upgrade)");
    Ok(1)
}

struct Process {
    pid: u64,
    version: String,
}

impl Process {
    fn of(v: &Value) -> Process {
        Process { pid: v["pid"].as_u64().unwrap_or(0), version: v["version"].as_str().unwrap_or("?").to_owned() }
    }
}
