//! TLS-ALPN-01 (RFC 8737) on the HTTPS listener. Pingora's ALPN list cannot hold `acme-tls/1` beside `h2`
//! and `http/1.1`, so the listener's pre-TLS hook reads the ClientHello first: a validation connection that
//! offers only `acme-tls/1` for a host with an open challenge gets a handshake of its own with the
//! challenge certificate and is then closed; every other connection is rewound, untouched, to Pingora.

use super::Challenges;
use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::{Error, ErrorType, Result};
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The ALPN protocol of TLS-ALPN-01 validation connections.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// A ClientHello larger than this is not a validation connection's.
const MAX_HELLO: usize = 16 * 1024;
const HELLO_WAIT: Duration = Duration::from_secs(5);

/// The certificate a TLS-ALPN-01 validation must see: self-signed for `host`, carrying the SHA-256
/// digest of the key authorization in the critical acmeIdentifier extension.
pub(crate) fn challenge_cert(host: &str, key_auth_digest: &[u8]) -> Result<Arc<CertifiedKey>, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(key_auth_digest)];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|_| rcgen::Error::KeyGenerationUnavailable)?;
    // `CertifiedKey::from_der` would run webpki over it, which rejects the critical extension.
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signer)))
}

/// The HTTPS listener's pre-TLS hook.
pub(crate) struct AlpnChallengeHook(pub(crate) Arc<Challenges>);

#[async_trait]
impl PreTlsProcess for AlpnChallengeHook {
    async fn process(&self, stream: &mut L4Stream) -> Result<()> {
        if !self.0.alpn_open() {
            return Ok(());
        }
        let (seen, cert) = read_hello(stream, &self.0).await;
        stream.rewind(&seen);
        let Some(cert) = cert else { return Ok(()) };
        let mut config =
            rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(Arc::new(Fixed(cert)));
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        match tokio::time::timeout(HELLO_WAIT, acceptor.accept(&mut *stream)).await {
            Ok(Ok(_)) => tracing::info!("answered a TLS-ALPN-01 validation"),
            Ok(Err(e)) => tracing::warn!("a TLS-ALPN-01 validation handshake failed: {e}"),
            Err(_) => tracing::warn!("a TLS-ALPN-01 validation handshake timed out"),
        }
        Error::e_explain(ErrorType::ConnectionClosed, "TLS-ALPN-01 validation answered; connection closed")
    }
}

/// Reads the ClientHello; returns the bytes read and, for a validation connection, the challenge certificate.
async fn read_hello(stream: &mut L4Stream, challenges: &Challenges) -> (Vec<u8>, Option<Arc<CertifiedKey>>) {
    let mut acceptor = Acceptor::default();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.len() < MAX_HELLO {
        let n = match tokio::time::timeout(HELLO_WAIT, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        seen.extend_from_slice(&buf[..n]);
        let mut input = &buf[..n];
        while !input.is_empty() {
            if acceptor.read_tls(&mut input).is_err() {
                return (seen, None);
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return (seen, validation_cert(&accepted.client_hello(), challenges)),
            Ok(None) => continue,
            Err(_) => break,
        }
    }
    (seen, None)
}

fn validation_cert(hello: &ClientHello<'_>, challenges: &Challenges) -> Option<Arc<CertifiedKey>> {
    let acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
    if !acme {
        return None;
    }
    challenges.alpn01(hello.server_name()?)
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
