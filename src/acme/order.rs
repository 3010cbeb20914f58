//! One ACME order for one host: answer its challenge (HTTP-01 or TLS-ALPN-01), wait for the CA, finalize
//! with a fresh key, and fetch the chain. Challenge answers are withdrawn however the order ends.

use super::AcmeError;
use crate::store::{now_ms, ChallengeRow, Store};
use crate::tls::alpn::challenge_cert;
use crate::tls::Challenges;
use instant_acme::{Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy};
use std::time::Duration;

/// How long the CA may take to validate and to issue.
const VALIDATION_WAIT: Duration = Duration::from_secs(90);

/// A certificate chain (leaf first) and its private key, both PEM.
pub(crate) struct Issued {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

/// The challenge types versiongate can answer, by their ACME names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Http01,
    TlsAlpn01,
}

impl Method {
    pub(crate) fn parse(name: &str) -> Option<Method> {
        match name {
            "http-01" => Some(Method::Http01),
            "tls-alpn-01" => Some(Method::TlsAlpn01),
            _ => None,
        }
    }

    fn acme_type(self) -> ChallengeType {
        match self {
            Method::Http01 => ChallengeType::Http01,
            Method::TlsAlpn01 => ChallengeType::TlsAlpn01,
        }
    }
}

/// Where an order's answers go: this gateway's listeners, and the store for the other gateways on it.
pub(crate) struct Board<'a> {
    pub(crate) challenges: &'a Challenges,
    pub(crate) store: &'a Store,
    /// Several gateways: the CA may ask any of them, so the order waits until they all can answer.
    pub(crate) clustered: bool,
}

/// How long the others take at most to read answers announced by NOTIFY (milliseconds, in practice).
const SHARE_WAIT: Duration = Duration::from_secs(1);

/// Withdraws the challenge answers of one order when it ends, however it ends.
struct Answers<'a> {
    challenges: &'a Challenges,
    store: Store,
    host: String,
    /// (kind, name) of each answer stored for the other gateways.
    shared: Vec<(&'static str, String)>,
}

impl Answers<'_> {
    async fn share(&mut self, kind: &'static str, name: &str, answer: String) {
        let row = ChallengeRow { kind: kind.into(), name: name.into(), answer };
        match self.store.open_challenge(&row, now_ms()).await {
            Ok(()) => self.shared.push((kind, name.into())),
            Err(e) => tracing::warn!("cannot share the {kind} answer for {} with other gateways: {e}", self.host),
        }
    }
}

impl Drop for Answers<'_> {
    fn drop(&mut self) {
        for (kind, name) in &self.shared {
            if *kind == HTTP01 {
                self.challenges.clear_http01(name);
            }
        }
        self.challenges.clear_alpn01(&self.host);
        let (store, shared) = (self.store.clone(), std::mem::take(&mut self.shared));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for (kind, name) in shared {
                    if let Err(e) = store.close_challenge(kind, &name).await {
                        tracing::warn!("cannot withdraw a shared {kind} answer: {e}; it lapses by itself");
                    }
                }
            });
        }
    }
}

const HTTP01: &str = "http-01";
const TLS_ALPN01: &str = "tls-alpn-01";

/// Another gateway's open answers older than this belong to an order that died with it.
const SHARED_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// The store, asked for an HTTP-01 answer of another gateway's order that the NOTIFY has not brought yet.
pub(crate) struct StoreAnswers(pub(crate) Store);

#[async_trait::async_trait]
impl crate::tls::SharedAnswers for StoreAnswers {
    async fn http01(&self, token: &str) -> Option<String> {
        let opened_after = now_ms() - SHARED_LIFETIME_MS;
        self.0.challenge_answer(HTTP01, token, opened_after).await.unwrap_or_else(|e| {
            tracing::warn!("cannot look up an HTTP-01 answer another gateway opened: {e}");
            None
        })
    }
}

/// Serves the answers other gateways opened (TLS-ALPN-01 certificates are made here from their digest).
pub(crate) async fn load_shared(store: &Store, challenges: &Challenges) -> Result<(), AcmeError> {
    let rows = store.open_challenges(now_ms() - SHARED_LIFETIME_MS).await?;
    let mut http = std::collections::HashMap::new();
    let mut alpn = std::collections::HashMap::new();
    for row in rows {
        if row.kind == HTTP01 {
            http.insert(row.name, row.answer);
            continue;
        }
        let cert = match challenges.shared_alpn01(&row.name, &row.answer) {
            Some(cert) => cert,
            None => match hex::decode(&row.answer).ok().and_then(|d| challenge_cert(&row.name, &d).ok()) {
                Some(cert) => cert,
                None => continue,
            },
        };
        alpn.insert(row.name, (row.answer, cert));
    }
    challenges.share(http, alpn);
    Ok(())
}

/// Orders a certificate for `host`, proving control with `method`.
pub(crate) async fn issue(
    account: &Account,
    host: &str,
    method: Method,
    board: &Board<'_>,
) -> Result<Issued, AcmeError> {
    let identifiers = [Identifier::Dns(host.to_owned())];
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let challenges = board.challenges;
    let mut answers = Answers { challenges, store: board.store.clone(), host: host.to_owned(), shared: Vec::new() };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        if authz.status == AuthorizationStatus::Valid {
            continue;
        }
        let mut challenge = authz
            .challenge(method.acme_type())
            .ok_or_else(|| AcmeError::NoChallenge { host: host.to_owned(), method: format!("{method:?}") })?;
        let key_authorization = challenge.key_authorization();
        match method {
            Method::Http01 => {
                challenges.set_http01(&challenge.token, key_authorization.as_str());
                answers.share(HTTP01, &challenge.token, key_authorization.as_str().to_owned()).await;
            }
            Method::TlsAlpn01 => {
                let digest = key_authorization.digest();
                let cert = challenge_cert(host, digest.as_ref())
                    .map_err(|e| AcmeError::Local(format!("cannot make the TLS-ALPN-01 certificate: {e}")))?;
                challenges.set_alpn01(host, cert);
                answers.share(TLS_ALPN01, host, hex::encode(digest.as_ref())).await;
            }
        }
        if board.clustered {
            tokio::time::sleep(SHARE_WAIT).await;
        }
        challenge.set_ready().await?;
    }
    let retry = RetryPolicy::new().initial_delay(Duration::from_millis(250)).timeout(VALIDATION_WAIT);
    let status = order.poll_ready(&retry).await?;
    if status != OrderStatus::Ready {
        return Err(AcmeError::Invalid { host: host.to_owned(), reason: reason(&mut order).await });
    }
    let key_pem = order.finalize().await?;
    let cert_pem = order.poll_certificate(&retry).await?;
    drop(answers);
    Ok(Issued { cert_pem, key_pem })
}

/// The CA's words for why an order became invalid: the failed challenge's problem detail.
async fn reason(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let state = match authz.refresh().await {
            Ok(state) => state,
            Err(e) => {
                reasons.push(e.to_string());
                continue;
            }
        };
        for challenge in &state.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(problem.to_string());
            }
        }
    }
    if reasons.is_empty() {
        "the CA marked the order invalid without a reason".into()
    } else {
        reasons.join("; ")
    }
}
