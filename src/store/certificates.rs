//! Certificates per host and source (ACME or uploaded) with their per-host state, and the ACME account.
//! Private keys and account credentials are sealed with the gateway's secret key.

use super::{get, parse_col, Result, Store, StoreError};
use serde::Serialize;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertSource {
    Acme,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    /// A certificate is stored and served.
    Valid,
    /// An order is open or about to be.
    Pending,
    /// No usable certificate: the last order failed (see `error`).
    Failed,
}

macro_rules! words {
    ($t:ty { $($v:ident = $s:literal),* }) => {
        impl $t {
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl std::str::FromStr for $t {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok(Self::$v),)* _ => Err(()) }
            }
        }
    };
}
words!(CertSource { Acme = "acme", Custom = "custom" });
words!(CertStatus { Valid = "valid", Pending = "pending", Failed = "failed" });

/// One stored certificate row, its key unsealed.
#[derive(Debug, Clone)]
pub struct CertRow {
    pub host: String,
    pub source: CertSource,
    pub status: CertStatus,
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    pub issuer: Option<String>,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub renew_at: Option<i64>,
    pub error: Option<String>,
    /// Failed orders in a row, for the back-off.
    pub failures: i64,
    pub retry_at: Option<i64>,
}

/// A certificate to store as `valid`.
#[derive(Debug, Clone)]
pub struct IssuedCert<'a> {
    pub host: &'a str,
    pub source: CertSource,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    pub issuer: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    pub renew_at: Option<i64>,
}

impl Store {
    /// Every row; a row that cannot be read (a corrupt or foreign-sealed key) is an error of its own host only.
    pub async fn certificates(&self) -> Result<Vec<Result<CertRow>>> {
        let rows = sqlx::query(
            "SELECT host, source, status, cert_pem, key_sealed, issuer, not_before, not_after, renew_at, error, \
             failures, retry_at FROM certificates ORDER BY host, source",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| self.cert_row(r)).collect())
    }

    fn cert_row(&self, row: &AnyRow) -> Result<CertRow> {
        let host: String = get(row, "host")?;
        let corrupt = |message: String| StoreError::Corrupt { what: format!("certificate of {host}"), message };
        let sealed: Option<String> = get(row, "key_sealed")?;
        let key_pem = sealed.map(|s| self.open_text(&s).map_err(|e| corrupt(e.to_string()))).transpose()?;
        Ok(CertRow {
            source: parse_col(row, "source")?,
            status: parse_col(row, "status")?,
            cert_pem: get(row, "cert_pem")?,
            key_pem,
            issuer: get(row, "issuer")?,
            not_before: get(row, "not_before")?,
            not_after: get(row, "not_after")?,
            renew_at: get(row, "renew_at")?,
            error: get(row, "error")?,
            failures: get(row, "failures")?,
            retry_at: get(row, "retry_at")?,
            host,
        })
    }

    /// Stores a certificate as `valid`, clearing the host's error and back-off.
    pub async fn save_certificate(&self, cert: &IssuedCert<'_>, now: i64) -> Result<()> {
        let key = self.seal_text(cert.key_pem)?;
        sqlx::query(
            "INSERT INTO certificates (host, source, status, cert_pem, key_sealed, issuer, not_before, not_after, \
             renew_at, error, failures, retry_at, updated_at) VALUES ($1, $2, 'valid', $3, $4, $5, $6, $7, $8, NULL, 0, NULL, $9) \
             ON CONFLICT (host, source) DO UPDATE SET status = 'valid', cert_pem = $3, key_sealed = $4, issuer = $5, \
             not_before = $6, not_after = $7, renew_at = $8, error = NULL, failures = 0, retry_at = NULL, updated_at = $9",
        )
        .bind(cert.host)
        .bind(cert.source.as_str())
        .bind(cert.cert_pem)
        .bind(key)
        .bind(cert.issuer)
        .bind(cert.not_before)
        .bind(cert.not_after)
        .bind(cert.renew_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An ACME host whose order is about to start (a row appears at once for the API).
    pub async fn mark_pending(&self, host: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO certificates (host, source, status, failures, updated_at) VALUES ($1, 'acme', 'pending', 0, $2) \
             ON CONFLICT (host, source) DO UPDATE SET status = CASE WHEN certificates.status = 'valid' \
             THEN 'valid' ELSE 'pending' END, updated_at = $2",
        )
        .bind(host)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A failed ACME order: the error and the next attempt. A host that still has a certificate stays `valid`.
    pub async fn record_cert_failure(&self, host: &str, error: &str, retry_at: i64, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO certificates (host, source, status, error, failures, retry_at, updated_at) \
             VALUES ($1, 'acme', 'failed', $2, 1, $3, $4) ON CONFLICT (host, source) DO UPDATE SET \
             status = CASE WHEN certificates.cert_pem IS NULL THEN 'failed' ELSE certificates.status END, \
             error = $2, failures = certificates.failures + 1, retry_at = $3, updated_at = $4",
        )
        .bind(host)
        .bind(error)
        .bind(retry_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes one host's certificate of one source; false when there was none.
    pub async fn remove_certificate(&self, host: &str, source: CertSource) -> Result<bool> {
        let done = sqlx::query("DELETE FROM certificates WHERE host = $1 AND source = $2")
            .bind(host)
            .bind(source.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The stored ACME account credentials (JSON) for a directory.
    pub async fn acme_account(&self, directory_url: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT credentials_sealed FROM acme_accounts WHERE directory_url = $1")
            .bind(directory_url)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = get(&row, "credentials_sealed")?;
        Ok(Some(self.open_text(&sealed)?))
    }

    /// Stores (or replaces, after the CA forgot it) the account for a directory.
    pub async fn save_acme_account(&self, directory_url: &str, credentials: &str, now: i64) -> Result<()> {
        let sealed = self.seal_text(credentials)?;
        sqlx::query(
            "INSERT INTO acme_accounts (directory_url, credentials_sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (directory_url) DO UPDATE SET credentials_sealed = $2, created_at = $3",
        )
        .bind(directory_url)
        .bind(sealed)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Seals a write-only value when the store has the secret key (the gateway always does).
    fn seal_text(&self, plain: &str) -> Result<String> {
        Ok(match &self.secrets {
            Some(secrets) => secrets.seal(plain)?,
            None => plain.to_owned(),
        })
    }

    fn open_text(&self, stored: &str) -> Result<String> {
        Ok(match &self.secrets {
            Some(secrets) => secrets.open(stored)?,
            None => stored.to_owned(),
        })
    }
}
