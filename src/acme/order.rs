//! One ACME order for one host: answer its challenge (HTTP-01 or TLS-ALPN-01), wait for the CA, finalize
//! with a fresh key, and fetch the chain. Challenge answers are withdrawn however the order ends.

use super::AcmeError;
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

/// Withdraws the challenge answers of one order when it ends, however it ends.
struct Answers<'a> {
    challenges: &'a Challenges,
    host: String,
    tokens: Vec<String>,
}

impl Drop for Answers<'_> {
    fn drop(&mut self) {
        for token in &self.tokens {
            self.challenges.clear_http01(token);
        }
        self.challenges.clear_alpn01(&self.host);
    }
}

/// Orders a certificate for `host`, proving control with `method`.
pub(crate) async fn issue(
    account: &Account,
    host: &str,
    method: Method,
    challenges: &Challenges,
) -> Result<Issued, AcmeError> {
    let identifiers = [Identifier::Dns(host.to_owned())];
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut answers = Answers { challenges, host: host.to_owned(), tokens: Vec::new() };
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
                answers.tokens.push(challenge.token.clone());
            }
            Method::TlsAlpn01 => {
                let cert = challenge_cert(host, key_authorization.digest().as_ref())
                    .map_err(|e| AcmeError::Local(format!("cannot make the TLS-ALPN-01 certificate: {e}")))?;
                challenges.set_alpn01(host, cert);
            }
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
