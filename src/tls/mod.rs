//! The TLS front door: the per-host certificate map the listener serves from (published atomically, read
//! without I/O), the rustls resolver over it, the answers to ACME challenges, and certificate parsing.
//!
//! The control plane (`acme`, the certificates API) is the only writer: it builds a whole
//! [`CertTable`] from the store and publishes it with one atomic store, like the route table.

pub(crate) mod alpn;
pub(crate) mod challenges;
pub(crate) mod parse;

pub(crate) use challenges::{Challenges, SharedAnswers};
pub use parse::CertError;
pub(crate) use parse::{check_upload, parse, ParsedCert};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The certificates served, by host. Wildcard certificates are kept under their suffix.
#[derive(Debug, Default)]
pub struct CertTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl CertTable {
    /// Adds the certificate for `host` (`*.example.com` for a wildcard); a later insert for the same host wins.
    pub(crate) fn insert(&mut self, host: &str, key: Arc<CertifiedKey>) {
        match host.strip_prefix("*.") {
            Some(suffix) => self.wildcard.insert(suffix.to_owned(), key),
            None => self.exact.insert(host.to_owned(), key),
        };
    }

    /// The certificate for a host: its own, else a wildcard one label up.
    pub(crate) fn lookup(&self, host: &str) -> Option<&Arc<CertifiedKey>> {
        self.exact.get(host).or_else(|| self.wildcard.get(host.split_once('.')?.1))
    }

    pub(crate) fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }
}

/// The one shared certificate map between the control plane and the TLS listener.
#[derive(Debug, Default)]
pub struct Certs {
    table: ArcSwap<CertTable>,
    refusals: RefusalLog,
}

impl Certs {
    pub fn new() -> Self {
        Certs::default()
    }

    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<CertTable>> {
        self.table.load()
    }

    /// Replaces the whole map with one atomic store; connections already open keep their certificate.
    pub(crate) fn publish(&self, table: CertTable) {
        self.table.store(Arc::new(table));
    }
}

/// The rustls resolver of the TLS listener: a map lookup, nothing else.
#[derive(Debug)]
pub(crate) struct Resolver(pub(crate) Arc<Certs>);

impl ResolvesServerCert for Resolver {
    /// `None` makes rustls refuse the handshake with the fatal alert `access_denied` (49).
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(|s| s.to_ascii_lowercase());
        let found = sni.as_deref().and_then(|host| self.0.current().lookup(host).cloned());
        if found.is_none() {
            self.0.refusals.note(sni.as_deref(), unix_seconds());
        }
        found
    }
}

/// Logs refused handshakes at most once per [`RefusalLog::EVERY_S`] seconds, with the count in between,
/// so a scanner trying names cannot flood the log.
#[derive(Debug, Default)]
struct RefusalLog {
    last_logged: AtomicI64,
    suppressed: AtomicU64,
}

impl RefusalLog {
    const EVERY_S: i64 = 10;

    fn note(&self, sni: Option<&str>, now_s: i64) {
        let last = self.last_logged.load(Ordering::Relaxed);
        let due = now_s - last >= Self::EVERY_S;
        if !due || self.last_logged.compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let more = self.suppressed.swap(0, Ordering::Relaxed);
        let name = sni.map_or_else(|| "no SNI".to_owned(), |s| format!("SNI {s:?}"));
        tracing::warn!(
            "TLS handshake refused for {name}: no certificate for that host ({more} more refused in the last {}s). \
             Add the host to a project's domains, or upload a certificate for it",
            Self::EVERY_S
        );
    }

    #[cfg(test)]
    fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<CertifiedKey> {
        let pair = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(pair.signing_key.serialize_der().into());
        let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
        Arc::new(CertifiedKey::new(vec![pair.cert.der().clone()], signer))
    }

    #[test]
    fn exact_hosts_win_over_wildcards_which_match_one_label() {
        let (exact, wild) = (key(), key());
        let mut table = CertTable::default();
        table.insert("*.example.com", wild.clone());
        table.insert("api.example.com", exact.clone());
        assert!(Arc::ptr_eq(table.lookup("api.example.com").unwrap(), &exact));
        assert!(Arc::ptr_eq(table.lookup("www.example.com").unwrap(), &wild));
        assert!(table.lookup("example.com").is_none());
        assert!(table.lookup("a.b.example.com").is_none());
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn refusals_are_logged_once_per_window_and_counted_in_between() {
        let log = RefusalLog::default();
        log.note(Some("a.test"), 1000);
        for i in 0..500 {
            log.note(Some("scan.test"), 1000 + i % 5);
        }
        assert_eq!(log.suppressed(), 500);
        log.note(None, 1011);
        assert_eq!(log.suppressed(), 0, "the next window logs and resets the count");
    }
}
