//! The answers to ACME challenges while an order is open: HTTP-01 key authorizations by token (served on
//! `http_listen`) and TLS-ALPN-01 certificates by host (served on `https_listen`).
//!
//! Locks are held for one map operation only, never across an await; the proxy takes them only for a
//! request under `/.well-known/acme-challenge/` or while a TLS-ALPN-01 challenge is open.

use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// The path prefix of HTTP-01 challenges (RFC 8555 §8.3).
pub(crate) const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// Where a gateway on a shared store finds an HTTP-01 answer another gateway opened that the NOTIFY has
/// not brought here yet: the CA may ask this gateway the moment the other one says it is ready.
#[async_trait::async_trait]
pub(crate) trait SharedAnswers: Send + Sync {
    async fn http01(&self, token: &str) -> Option<String>;
}

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
    /// Set on a gateway that shares its store with others.
    lookup: OnceLock<Arc<dyn SharedAnswers>>,
}

impl std::fmt::Debug for dyn SharedAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedAnswers")
    }
}

impl Challenges {
    pub fn new() -> Self {
        Challenges::default()
    }

    /// The key authorization for an HTTP-01 request path, if an order is waiting for it.
    pub(crate) fn http01(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        let local = crate::lock::read(&self.http).get(token).cloned();
        local.or_else(|| crate::lock::read(&self.shared_http).get(token).cloned())
    }

    /// [`Challenges::http01`], then, on a gateway sharing its store, the store itself. Only a token of
    /// the shape ACME gives (base64url, RFC 8555 §8.3) is looked up, so junk paths cost no query.
    pub(crate) async fn http01_anywhere(&self, path: &str) -> Option<String> {
        if let Some(answer) = self.http01(path) {
            return Some(answer);
        }
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        let shaped = (16..=128).contains(&token.len())
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match self.lookup.get() {
            Some(lookup) if shaped => lookup.http01(token).await,
            _ => None,
        }
    }

    /// Turns on [`Challenges::http01_anywhere`]'s store look-up (once; later calls change nothing).
    pub(crate) fn look_up_shared(&self, lookup: Arc<dyn SharedAnswers>) {
        let _ = self.lookup.set(lookup);
    }

    pub(crate) fn set_http01(&self, token: &str, key_authorization: &str) {
        crate::lock::write(&self.http).insert(token.into(), key_authorization.into());
    }

    pub(crate) fn clear_http01(&self, token: &str) {
        crate::lock::write(&self.http).remove(token);
    }

    pub(crate) fn alpn_open(&self) -> bool {
        self.alpn_open.load(Ordering::Acquire) > 0
    }

    /// The TLS-ALPN-01 certificate for a host, if an order is waiting for it.
    pub(crate) fn alpn01(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.to_ascii_lowercase();
        let local = crate::lock::read(&self.alpn).get(&host).cloned();
        local.or_else(|| crate::lock::read(&self.shared_alpn).get(&host).map(|(_, c)| c.clone()))
    }

    pub(crate) fn set_alpn01(&self, host: &str, cert: Arc<CertifiedKey>) {
        crate::lock::write(&self.alpn).insert(host.into(), cert);
        self.count_alpn();
    }

    pub(crate) fn clear_alpn01(&self, host: &str) {
        crate::lock::write(&self.alpn).remove(host);
        self.count_alpn();
    }

    /// Replaces the answers other gateways opened with the store's current set.
    pub(crate) fn share(&self, http: HashMap<String, String>, alpn: SharedAlpn) {
        *crate::lock::write(&self.shared_http) = http;
        *crate::lock::write(&self.shared_alpn) = alpn;
        self.count_alpn();
    }

    /// The certificate already made for a shared TLS-ALPN-01 answer, if its digest is still `digest`.
    pub(crate) fn shared_alpn01(&self, host: &str, digest: &str) -> Option<Arc<CertifiedKey>> {
        let shared = crate::lock::read(&self.shared_alpn);
        shared.get(host).filter(|(d, _)| d == digest).map(|(_, c)| c.clone())
    }

    fn count_alpn(&self) {
        let local = crate::lock::read(&self.alpn).len();
        let shared = crate::lock::read(&self.shared_alpn).len();
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

    struct Store(Arc<std::sync::Mutex<Vec<String>>>);

    #[async_trait::async_trait]
    impl SharedAnswers for Store {
        async fn http01(&self, token: &str) -> Option<String> {
            self.0.lock().unwrap().push(token.to_owned());
            (token == "not-yet-notified-token").then(|| format!("{token}.thumb"))
        }
    }

    #[tokio::test]
    async fn a_token_not_notified_yet_is_looked_up_in_the_store_and_junk_is_not() {
        let c = Challenges::new();
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let path = |t: &str| format!("{HTTP01_PREFIX}{t}");
        assert_eq!(c.http01_anywhere(&path("not-yet-notified-token")).await, None, "a single gateway asks nobody");
        c.look_up_shared(Arc::new(Store(asked.clone())));
        c.set_http01("local-token-0000", "local");
        assert_eq!(c.http01_anywhere(&path("local-token-0000")).await.as_deref(), Some("local"));
        let found = c.http01_anywhere(&path("not-yet-notified-token")).await;
        assert_eq!(found.as_deref(), Some("not-yet-notified-token.thumb"));
        for junk in ["short", "has/a/slash/in/it/0000", "has%20escapes-00000000", &"x".repeat(129)] {
            assert_eq!(c.http01_anywhere(&path(junk)).await, None);
        }
        assert_eq!(c.http01_anywhere("/not/a/challenge/path/0000").await, None);
        assert_eq!(*asked.lock().unwrap(), ["not-yet-notified-token"], "only a token of ACME's shape is looked up");
    }
}
