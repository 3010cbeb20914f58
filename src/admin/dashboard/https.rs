//! The HTTPS section of a project page: each domain's certificate, its state and its last error.

use super::html::esc;
use crate::acme::CertView;

/// The certificates that serve `domains` (uploaded wildcards included).
pub(crate) fn for_domains(all: Vec<CertView>, domains: &[String]) -> Vec<CertView> {
    all.into_iter().filter(|c| domains.iter().any(|d| d == &c.host)).collect()
}

pub(crate) fn section(certs: &[CertView]) -> String {
    if certs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<section id="https"><h2>HTTPS</h2><table><tr><th>host</th><th>source</th><th>status</th><th>expires</th><th>issuer</th><th>last error</th></tr>"#,
    );
    for c in certs {
        let status = c.status.as_str();
        out.push_str(&format!(
            r#"<tr class="cert-{status}"><td><code>{}</code></td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&c.host),
            c.source.as_str(),
            esc(c.not_after.as_deref().unwrap_or("-")),
            esc(c.issuer.as_deref().unwrap_or("-")),
            esc(c.error.as_deref().unwrap_or("")),
        ));
    }
    out.push_str("</table></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CertSource, CertStatus};

    #[test]
    fn a_failed_host_shows_its_error_escaped() {
        let view = CertView {
            host: "a.test".into(),
            source: CertSource::Acme,
            status: CertStatus::Failed,
            issuer: None,
            not_after: None,
            error: Some("the CA said <no>".into()),
            renew_at: None,
            retry_at: None,
        };
        let html = section(&for_domains(vec![view], &["a.test".into()]));
        assert!(html.contains("cert-failed") && html.contains("the CA said &lt;no&gt;"), "{html}");
        assert_eq!(section(&[]), "");
    }
}
