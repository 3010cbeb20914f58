//! Uploaded (custom) certificates and the per-host view of every certificate the API, CLI and dashboard show.

use super::{AcmeError, CertManager};
use crate::store::{CertRow, CertSource, CertStatus, IssuedCert};
use crate::tls::parse::rfc3339;
use serde::Serialize;

/// One row of `GET /api/v1/certificates`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct CertView {
    pub(crate) host: String,
    pub(crate) source: CertSource,
    pub(crate) status: CertStatus,
    pub(crate) issuer: Option<String>,
    pub(crate) not_after: Option<String>,
    pub(crate) error: Option<String>,
    /// When an ACME certificate is renewed, or the next try after a failed order.
    pub(crate) renew_at: Option<String>,
    pub(crate) retry_at: Option<String>,
}

impl CertView {
    fn of(row: &CertRow) -> CertView {
        CertView {
            host: row.host.clone(),
            source: row.source,
            status: row.status,
            issuer: row.issuer.clone(),
            not_after: row.not_after.map(rfc3339),
            error: row.error.clone(),
            renew_at: row.renew_at.map(rfc3339),
            retry_at: row.retry_at.filter(|_| row.failures > 0).map(rfc3339),
        }
    }
}

impl CertManager {
    /// Every stored certificate; an unreadable row shows as `failed` with its reason.
    pub(crate) async fn list(&self) -> Result<Vec<CertView>, AcmeError> {
        let rows = self.inner.store.certificates().await?;
        Ok(rows
            .iter()
            .map(|r| match r {
                Ok(row) => CertView::of(row),
                Err(e) => CertView {
                    host: String::new(),
                    source: CertSource::Custom,
                    status: CertStatus::Failed,
                    issuer: None,
                    not_after: None,
                    error: Some(e.to_string()),
                    renew_at: None,
                    retry_at: None,
                },
            })
            .collect())
    }

    /// Validates and stores an uploaded certificate for `host`; it is served at once and wins over ACME.
    pub(crate) async fn upload(&self, host: &str, cert_pem: &str, key_pem: &str) -> Result<CertView, AcmeError> {
        let host = checked_host(host)?;
        let now = crate::store::now_ms();
        let parsed = crate::tls::parse(cert_pem, key_pem)?;
        crate::tls::check_upload(&host, &parsed, now)?;
        let cert = IssuedCert {
            host: &host,
            source: CertSource::Custom,
            cert_pem,
            key_pem,
            issuer: &parsed.issuer,
            not_before: parsed.not_before,
            not_after: parsed.not_after,
            renew_at: None,
        };
        self.inner.store.save_certificate(&cert, now).await?;
        self.publish().await?;
        let rows = self.inner.store.certificates().await?;
        let row = rows.iter().flatten().find(|r| r.host == host && r.source == CertSource::Custom);
        row.map(CertView::of).ok_or_else(|| AcmeError::NotFound(host.clone()))
    }

    /// Removes the uploaded certificate of `host`; ACME takes over if the host wants it.
    pub(crate) async fn remove(&self, host: &str) -> Result<(), AcmeError> {
        let host = checked_host(host)?;
        if !self.inner.store.remove_certificate(&host, CertSource::Custom).await? {
            return Err(AcmeError::NotFound(host));
        }
        self.publish().await?;
        self.wake();
        Ok(())
    }
}

/// A host name as a domain of a project is written: lowercase, `*.` allowed for one label.
fn checked_host(host: &str) -> Result<String, AcmeError> {
    let host = host.trim().to_ascii_lowercase();
    crate::project::check_domain(&host).map_err(|_| AcmeError::BadHost(host.clone()))?;
    Ok(host)
}
