//! The ACME account: created once per directory and stored sealed, re-registered when the CA has forgotten
//! it, and the retry of an order around transient failures (bad nonces, a dropped connection).

use super::order::{self, Issued, Method};
use super::{AcmeError, CertManager};
use instant_acme::{Account, AccountBuilder, AccountCredentials, NewAccount};
use std::time::Duration;

/// Attempts of one order when the CA answers with a transient error.
const ATTEMPTS: u32 = 4;

impl CertManager {
    /// Orders a certificate for `host`, with a fresh account if the CA forgot ours, retrying transient errors.
    pub(super) async fn issue(&self, host: &str, method: Method) -> Result<Issued, AcmeError> {
        // A registration is itself a signed request the CA may refuse (a rejected nonce): until one
        // succeeds, every attempt registers again rather than going back to the forgotten account.
        let (mut attempt, mut fresh) = (0, false);
        loop {
            attempt += 1;
            let result = match self.account(fresh).await {
                Ok(account) => {
                    fresh = false;
                    let board = order::Board {
                        challenges: &self.inner.challenges,
                        store: &self.inner.store,
                        clustered: self.inner.options.roles.clustered(),
                    };
                    order::issue(&account, host, method, &board).await
                }
                Err(e) => Err(e),
            };
            match result {
                Err(AcmeError::Api(e)) if problem_is(&e, "accountDoesNotExist") && attempt < ATTEMPTS => {
                    tracing::warn!("the ACME server does not know our account any more; registering a new one");
                    fresh = true;
                }
                Err(AcmeError::Api(e)) if transient(&e) && attempt < ATTEMPTS => {
                    tracing::info!("ACME order for {host} hit a transient error ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// The account, loaded from the store or created (and stored) once; `fresh` registers a new one.
    async fn account(&self, fresh: bool) -> Result<Account, AcmeError> {
        let mut held = self.inner.account.lock().await;
        if let Some(account) = held.as_ref().filter(|_| !fresh) {
            return Ok(account.clone());
        }
        let options = &self.inner.options;
        let stored = match fresh {
            true => None,
            false => self.inner.store.acme_account(&options.directory_url).await?,
        };
        let account = match stored {
            Some(json) => {
                let credentials: AccountCredentials = serde_json::from_str(&json)
                    .map_err(|e| AcmeError::Local(format!("the stored ACME account is unreadable: {e}")))?;
                self.builder()?.from_credentials(credentials).await?
            }
            None => self.register().await?,
        };
        *held = Some(account.clone());
        Ok(account)
    }

    async fn register(&self) -> Result<Account, AcmeError> {
        let options = &self.inner.options;
        let contact: Vec<String> = match options.email.as_str() {
            "" => Vec::new(),
            email => vec![format!("mailto:{email}")],
        };
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) = self.builder()?.create(&new, options.directory_url.clone(), None).await?;
        let json = serde_json::to_string(&credentials).map_err(|e| AcmeError::Local(e.to_string()))?;
        self.inner.store.save_acme_account(&options.directory_url, &json, crate::store::now_ms()).await?;
        tracing::info!("registered an ACME account at {}", options.directory_url);
        Ok(account)
    }

    fn builder(&self) -> Result<AccountBuilder, AcmeError> {
        let ca_file = &self.inner.options.ca_file;
        let builder = if ca_file.is_empty() { Account::builder() } else { Account::builder_with_root(ca_file) };
        builder
            .map_err(|e| AcmeError::Local(format!("cannot set up the ACME client (acme.ca_file = {ca_file:?}): {e}")))
    }
}

fn problem_is(e: &instant_acme::Error, kind: &str) -> bool {
    matches!(e, instant_acme::Error::Api(p) if p.r#type.as_deref().is_some_and(|t| t.ends_with(kind)))
}

/// Errors worth another attempt at once: a rejected nonce, a connection that failed, a CA that is busy.
fn transient(e: &instant_acme::Error) -> bool {
    problem_is(e, "badNonce")
        || problem_is(e, "serverInternal")
        || matches!(e, instant_acme::Error::Hyper(_) | instant_acme::Error::Other(_) | instant_acme::Error::Timeout(_))
}
