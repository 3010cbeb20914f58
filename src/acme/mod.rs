//! Certificates in the control plane: ACME issuance and renewal per host, uploaded certificates, and the
//! one writer of the TLS listener's certificate map ([`CertManager::publish`]).
//!
//! Every round reads the store (projects and certificate rows), orders what is due one host at a time,
//! and publishes a whole new map. A host's failure is recorded on its own row with a back-off; it never
//! stops the round or touches another host.

mod account;
mod order;
mod renewal;
pub(crate) mod schedule;
mod uploads;

pub(crate) use order::Method;
pub(crate) use uploads::CertView;

use crate::metrics::Metrics;
use crate::store::{CertRow, CertSource, CertStatus, IssuedCert, Store, StoreError};
use crate::tls::{CertError, CertTable, Certs, Challenges};
use schedule::Due;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// The longest sleep between two rounds: expired certificates leave the map within it.
const MAX_SLEEP: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("the ACME server answered with an error: {0}")]
    Api(#[from] instant_acme::Error),
    #[error("the CA could not validate {host}: {reason}. Check that DNS for {host} points at this gateway and that it is reachable on the challenge's port")]
    Invalid { host: String, reason: String },
    #[error("the CA offered no {method} challenge for {host}. Allow another method in [acme] challenges")]
    NoChallenge { host: String, method: String },
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("`{0}` is not a host name a certificate can be for (like app.example.com or *.example.com)")]
    BadHost(String),
    #[error("no uploaded certificate for {0}")]
    NotFound(String),
}

/// The ACME settings of the gateway.
#[derive(Debug, Clone, Default)]
pub(crate) struct AcmeOptions {
    /// False without `https_listen`: nothing is ordered (uploads are still stored).
    pub(crate) enabled: bool,
    pub(crate) directory_url: String,
    pub(crate) email: String,
    pub(crate) ca_file: String,
    /// Challenge methods in order of preference; a host that failed tries the next one.
    pub(crate) methods: Vec<Method>,
    pub(crate) public_host: String,
    /// In a cluster only the gateway holding the `acme` role orders; every gateway serves what is stored.
    pub(crate) roles: std::sync::Arc<crate::store::Roles>,
}

/// Cheap to clone; one per gateway.
#[derive(Clone)]
pub(crate) struct CertManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    certs: Arc<Certs>,
    challenges: Arc<Challenges>,
    metrics: Arc<Metrics>,
    options: AcmeOptions,
    account: Mutex<Option<instant_acme::Account>>,
    /// Told by the route sync (domains may have changed) and by certificate changes.
    wake: Arc<Notify>,
}

impl CertManager {
    pub(crate) fn new(
        store: Store,
        certs: Arc<Certs>,
        challenges: Arc<Challenges>,
        metrics: Arc<Metrics>,
        options: AcmeOptions,
        wake: Arc<Notify>,
    ) -> Self {
        if options.roles.clustered() {
            challenges.look_up_shared(Arc::new(order::StoreAnswers(store.clone())));
        }
        let inner = Inner { store, certs, challenges, metrics, options, account: Mutex::new(None), wake };
        CertManager { inner: Arc::new(inner) }
    }

    /// Starts a round now (a project's domains changed, an upload was removed).
    pub(crate) fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Rebuilds the certificate map from the store and publishes it; returns each host's problem.
    pub(crate) async fn publish(&self) -> Result<Vec<String>, AcmeError> {
        let rows = self.inner.store.certificates().await?;
        let (table, problems) = build_table(&rows, crate::store::now_ms());
        let shown = rows.iter().flatten();
        self.inner
            .metrics
            .set_certificates(shown.map(|r| (r.host.as_str(), r.source.as_str(), r.status.as_str(), r.not_after)));
        tracing::debug!("serving {} certificates", table.len());
        self.inner.certs.publish(table);
        order::load_shared(&self.inner.store, &self.inner.challenges).await?;
        Ok(problems)
    }

    /// Rounds until shutdown: order what is due, publish, sleep until the next due time or a wake-up.
    pub(crate) async fn run(&self, mut shutdown: pingora::server::ShutdownWatch) {
        loop {
            let sleep = match self.round().await {
                Ok(sleep) => sleep,
                Err(e) => {
                    tracing::error!("certificate round failed: {e}; retrying in a minute");
                    Duration::from_secs(60)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.inner.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn round(&self) -> Result<Duration, AcmeError> {
        let mut next = crate::store::now_ms() + MAX_SLEEP.as_millis() as i64;
        if self.inner.options.enabled && self.inner.options.roles.holds(crate::store::Role::Acme) {
            for (host, row) in self.wanted().await? {
                match schedule::due(row.as_ref(), crate::store::now_ms()) {
                    Due::Now => self.order(&host, row.map_or(0, |r| r.failures)).await?,
                    Due::At(at) => next = next.min(at),
                }
            }
        }
        for problem in self.publish().await? {
            tracing::warn!("certificate not served: {problem}");
        }
        let wait = (next - crate::store::now_ms()).clamp(1000, MAX_SLEEP.as_millis() as i64);
        Ok(Duration::from_millis(wait as u64))
    }

    /// Every host that wants an ACME certificate, with its ACME row; hosts an upload covers are left out.
    async fn wanted(&self) -> Result<Vec<(String, Option<CertRow>)>, AcmeError> {
        let records = self.inner.store.projects().await?;
        let specs = records.iter().flatten().map(|r| &r.spec);
        let hosts = schedule::wanted_hosts(specs, &self.inner.options.public_host);
        let rows: Vec<CertRow> = self.inner.store.certificates().await?.into_iter().flatten().collect();
        let uploaded = |host: &str| {
            rows.iter().any(|r| r.source == CertSource::Custom && r.status == CertStatus::Valid && r.host == host)
        };
        let acme_row = |host: &str| rows.iter().find(|r| r.source == CertSource::Acme && r.host == host).cloned();
        Ok(hosts.into_iter().filter(|h| !uploaded(h)).map(|h| (acme_row(&h), h)).map(|(row, h)| (h, row)).collect())
    }

    /// One order for one host; its outcome is stored on its row, never returned as the round's error.
    async fn order(&self, host: &str, failures: i64) -> Result<(), AcmeError> {
        let now = crate::store::now_ms();
        self.inner.store.mark_pending(host, now).await?;
        let methods = &self.inner.options.methods;
        let method = methods.get(failures as usize % methods.len().max(1)).copied().unwrap_or(Method::Http01);
        tracing::info!("ordering a certificate for {host} ({method:?})");
        match self.issue_and_store(host, method).await {
            Ok(not_after) => {
                self.inner.metrics.acme_order("issued");
                tracing::info!("certificate for {host} issued, valid until {}", crate::tls::parse::rfc3339(not_after));
            }
            Err(e) => {
                self.inner.metrics.acme_order("failed");
                let retry_at = crate::store::now_ms() + schedule::backoff_ms(failures + 1);
                let when = crate::tls::parse::rfc3339(retry_at);
                tracing::warn!("certificate order for {host} failed: {e}. Next try at {when}");
                self.inner.store.record_cert_failure(host, &e.to_string(), retry_at, crate::store::now_ms()).await?;
            }
        }
        Ok(())
    }

    async fn issue_and_store(&self, host: &str, method: Method) -> Result<i64, AcmeError> {
        let issued = self.issue(host, method).await?;
        let parsed = crate::tls::parse(&issued.cert_pem, &issued.key_pem)?;
        let account = self.inner.account.lock().await.clone();
        let renew_at = renewal::renew_at(account.as_ref(), &parsed).await;
        let cert = IssuedCert {
            host,
            source: CertSource::Acme,
            cert_pem: &issued.cert_pem,
            key_pem: &issued.key_pem,
            issuer: &parsed.issuer,
            not_before: parsed.not_before,
            not_after: parsed.not_after,
            renew_at: Some(renew_at),
        };
        self.inner.store.save_certificate(&cert, crate::store::now_ms()).await?;
        self.publish().await?;
        // Other gateways on this PostgreSQL serve it at once rather than at their next round.
        if let Err(e) = self.inner.store.announce_routes("certificates").await {
            tracing::warn!("cannot announce the new certificate to other gateways: {e}");
        }
        Ok(parsed.not_after)
    }
}

/// The map the listener serves: ACME certificates, then uploaded ones over them. A row that cannot be
/// served (unreadable, not parseable, expired) is a problem of its own host and is left out.
pub(crate) fn build_table(rows: &[Result<CertRow, StoreError>], now: i64) -> (CertTable, Vec<String>) {
    let (mut table, mut problems) = (CertTable::default(), Vec::new());
    let ok_rows = || rows.iter().flatten();
    let ordered =
        ok_rows().filter(|r| r.source == CertSource::Acme).chain(ok_rows().filter(|r| r.source == CertSource::Custom));
    for row in ordered {
        let (Some(cert_pem), Some(key_pem)) = (&row.cert_pem, &row.key_pem) else { continue };
        match crate::tls::parse(cert_pem, key_pem) {
            Ok(parsed) if parsed.not_after <= now => {
                problems.push(format!(
                    "{} ({}): expired at {}",
                    row.host,
                    row.source.as_str(),
                    crate::tls::parse::rfc3339(parsed.not_after)
                ));
            }
            Ok(parsed) => table.insert(&row.host, parsed.key),
            Err(e) => problems.push(format!("{} ({}): {e}", row.host, row.source.as_str())),
        }
    }
    problems.extend(rows.iter().filter_map(|r| r.as_ref().err()).map(ToString::to_string));
    (table, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(host: &str, source: CertSource, cert_pem: &str, key_pem: &str) -> Result<CertRow, StoreError> {
        Ok(CertRow {
            host: host.into(),
            source,
            status: CertStatus::Valid,
            cert_pem: Some(cert_pem.into()),
            key_pem: Some(key_pem.into()),
            issuer: None,
            not_before: None,
            not_after: None,
            renew_at: None,
            error: None,
            failures: 0,
            retry_at: None,
        })
    }

    #[test]
    fn one_hosts_bad_row_is_its_own_problem_and_uploads_win_over_acme() {
        let made = |host: &str| rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
        let (good, other, upload) = (made("good.test"), made("bad.test"), made("good.test"));
        let rows = vec![
            row("good.test", CertSource::Acme, &good.cert.pem(), &good.signing_key.serialize_pem()),
            row("bad.test", CertSource::Acme, &other.cert.pem(), &good.signing_key.serialize_pem()),
            row("good.test", CertSource::Custom, &upload.cert.pem(), &upload.signing_key.serialize_pem()),
            Err(StoreError::Corrupt { what: "certificate of broken.test".into(), message: "unsealable".into() }),
        ];
        let (table, problems) = build_table(&rows, 0);
        assert_eq!(table.len(), 1, "only good.test is served");
        let served = &table.lookup("good.test").unwrap().cert[0];
        assert_eq!(served.as_ref(), upload.cert.der().as_ref(), "the upload wins over the ACME certificate");
        assert!(table.lookup("bad.test").is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("bad.test (acme): the private key does not belong"), "{problems:?}");
        assert!(problems[1].contains("broken.test"), "{problems:?}");
        let (expired_only, problems) = build_table(&rows[..1], i64::MAX);
        assert_eq!((expired_only.len(), problems.len()), (0, 1), "an expired certificate is not served");
    }
}
