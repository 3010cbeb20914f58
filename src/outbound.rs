//! The HTTP client for calls versiongate makes itself (GitHub's API, notification receivers): reqwest over
//! rustls with the ring provider, which every TLS part of the binary uses.

use std::time::Duration;

/// A client whose every request gives up after `timeout`. Building one never panics: the ring provider is
/// installed first when no provider is (tests and library users have not run `main`).
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(timeout).build().unwrap_or_else(|e| {
        tracing::error!("cannot build the outgoing HTTP client ({e}); using one without TLS settings");
        reqwest::Client::default()
    })
}
