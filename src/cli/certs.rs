//! `versiongate certs list | add HOST --cert FILE --key FILE | remove HOST`, and the HTTPS lines of `status`.

use super::client::{Client, ClientError};
use super::CertsAction;
use serde_json::{json, Value};

pub(crate) async fn certs(client: &Client, action: CertsAction) -> Result<(), ClientError> {
    match action {
        CertsAction::List => {
            let rows = client.get("/api/v1/certificates").await?;
            let rows = rows.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!(
                    "no certificates yet: add a domain to a project (tls = \"auto\") or upload one with `certs add`"
                );
            }
            for row in &rows {
                println!("{}", line(row));
            }
        }
        CertsAction::Add { host, cert, key } => {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path)
                    .map_err(|e| ClientError::Input(format!("cannot read {}: {e}", path.display())))
            };
            let body = json!({ "cert_pem": read(&cert)?, "key_pem": read(&key)? });
            let row = client.put(&format!("/api/v1/certificates/{host}"), &body).await?;
            println!("uploaded; now serving: {}", line(&row));
        }
        CertsAction::Remove { host } => {
            client.delete(&format!("/api/v1/certificates/{host}")).await?;
            println!("removed the uploaded certificate of {host}");
        }
    }
    Ok(())
}

/// One certificate as a line: host, source, status, expiry, and the last error.
pub(crate) fn line(row: &Value) -> String {
    let text = |k: &str| row[k].as_str().unwrap_or("-").to_owned();
    let error = row["error"].as_str().map(|e| format!("  error: {e}")).unwrap_or_default();
    format!(
        "{:<32} {:<6} {:<7} until {}  issuer {}{error}",
        text("host"),
        text("source"),
        text("status"),
        text("not_after"),
        text("issuer")
    )
}

/// The certificate lines for the hosts of one project, for `status`.
pub(crate) fn for_domains(certs: &[Value], domains: &[Value]) -> Vec<String> {
    let wanted: Vec<&str> = domains.iter().filter_map(Value::as_str).collect();
    certs.iter().filter(|c| c["host"].as_str().is_some_and(|h| wanted.contains(&h))).map(line).collect()
}
