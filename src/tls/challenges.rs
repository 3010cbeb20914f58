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

/// The TLS-ALPN-01 answers other gateways opened: host → (hex digest of the key authorization, our cert).
pub(crate) type SharedAlpn = HashMap<String, (String, Arc<CertifiedKey>)>;

#[derive(Debug, Default)]
pub struct Challenges {
    http: RwLock<HashMap<String, String>>,
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// Answers of orders another gateway on the store runs (the CA may ask this one).
    shared_http: RwLock<HashMap<String, String>>,
    shared_alpn: RwLock<SharedAlpn>,
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
        let local = self.http.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned();
        local.or_else(|| self.shared_http.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned())
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
        let host = host.to_ascii_lowercase();
        let local = self.alpn.read().unwrap_or_else(|e| e.into_inner()).get(&host).cloned();
        local.or_else(|| self.shared_alpn.read().unwrap_or_else(|e| e.into_inner()).get(&host).map(|(_, c)| c.clone()))
    }

    pub(crate) fn set_alpn01(&self, host: &str, cert: Arc<CertifiedKey>) {
        self.alpn.write().unwrap_or_else(|e| e.into_inner()).insert(host.into(), cert);
        self.count_alpn();
    }

    pub(crate) fn clear_alpn01(&self, host: &str) {
        self.alpn.write().unwrap_or_else(|e| e.into_inner()).remove(host);
        self.count_alpn();
    }

    /// Replaces the answers other gateways opened with the store's current set.
    pub(crate) fn share(&self, http: HashMap<String, String>, alpn: SharedAlpn) {
        *self.shared_http.write().unwrap_or_else(|e| e.into_inner()) = http;
        *self.shared_alpn.write().unwrap_or_else(|e| e.into_inner()) = alpn;
        self.count_alpn();
    }

    /// The certificate already made for a shared TLS-ALPN-01 answer, if its digest is still `digest`.
    pub(crate) fn shared_alpn01(&self, host: &str, digest: &str) -> Option<Arc<CertifiedKey>> {
        let shared = self.shared_alpn.read().unwrap_or_else(|e| e.into_inner());
        shared.get(host).filter(|(d, _)| d == digest).map(|(_, c)| c.clone())
    }

    fn count_alpn(&self) {
        let local = self.alpn.read().unwrap_or_else(|e| e.into_inner()).len();
        let shared = self.shared_alpn.read().unwrap_or_else(|e| e.into_inner()).len();
        self.alpn_open.store(local + shared, Ordering::Release);
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
        c.share(HashMap::from([("theirs".into(), "theirs.thumb".into())]), HashMap::new());
        assert_eq!(
            c.http01("/.well-known/acme-challenge/theirs").as_deref(),
            Some("theirs.thumb"),
            "another gateway's"
        );
        c.share(HashMap::new(), HashMap::new());
        assert_eq!(c.http01("/.well-known/acme-challenge/theirs"), None, "withdrawn with the store's row");
    }
}
