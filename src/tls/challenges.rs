//! The answers to ACME challenges while an order is open: HTTP-01 key authorizations by token (served on
//! `http_listen`) and TLS-ALPN-01 certificates by host (served on `https_listen`).
//!
//! Locks are held for one map operation only, never across an await; the proxy takes them only for a
//! request under `/.well-known/acme-challenge/` or while a TLS-ALPN-01 challenge is open.

use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// The path prefix of HTTP-01 challenges (RFC 8555 §8.3).
pub(crate) const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

#[derive(Debug, Default)]
pub struct Challenges {
    http: RwLock<HashMap<String, String>>,
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// How many TLS-ALPN-01 answers are open: the listener's pre-TLS hook reads no ClientHello when 0.
    alpn_open: AtomicUsize,
}

impl Challenges {
    pub fn new() -> Self {
        Challenges::default()
    }

    /// The key authorization for an HTTP-01 request path, if an order is waiting for it.
    pub(crate) fn http01(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        self.http.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    pub(crate) fn set_http01(&self, token: &str, key_authorization: &str) {
        self.http.write().unwrap_or_else(|e| e.into_inner()).insert(token.into(), key_authorization.into());
    }

    pub(crate) fn clear_http01(&self, token: &str) {
        self.http.write().unwrap_or_else(|e| e.into_inner()).remove(token);
    }

    pub(crate) fn alpn_open(&self) -> bool {
        self.alpn_open.load(Ordering::Acquire) > 0
    }

    /// The TLS-ALPN-01 certificate for a host, if an order is waiting for it.
    pub(crate) fn alpn01(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.alpn.read().unwrap_or_else(|e| e.into_inner()).get(&host.to_ascii_lowercase()).cloned()
    }

    pub(crate) fn set_alpn01(&self, host: &str, cert: Arc<CertifiedKey>) {
        let mut map = self.alpn.write().unwrap_or_else(|e| e.into_inner());
        map.insert(host.into(), cert);
        self.alpn_open.store(map.len(), Ordering::Release);
    }

    pub(crate) fn clear_alpn01(&self, host: &str) {
        let mut map = self.alpn.write().unwrap_or_else(|e| e.into_inner());
        map.remove(host);
        self.alpn_open.store(map.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http01_answers_only_open_tokens_under_the_prefix() {
        let c = Challenges::new();
        c.set_http01("tok", "tok.thumb");
        assert_eq!(c.http01("/.well-known/acme-challenge/tok").as_deref(), Some("tok.thumb"));
        assert_eq!(c.http01("/.well-known/acme-challenge/other"), None);
        assert_eq!(c.http01("/tok"), None);
        c.clear_http01("tok");
        assert_eq!(c.http01("/.well-known/acme-challenge/tok"), None);
    }
}
