//! Reading a PEM certificate chain and its key into what the TLS listener serves, and the checks an
//! uploaded certificate must pass (pure: the time is a parameter).

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// Why a certificate cannot be served; every message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("cert_pem holds no PEM certificate (-----BEGIN CERTIFICATE-----). Paste the full chain, leaf first")]
    NoCertificate,
    #[error("certificate {index} of the chain does not parse: {message}. Upload the PEM file your CA gave you")]
    BadCertificate { index: usize, message: String },
    #[error("the chain is out of order: certificate {index} was not issued by certificate {next}. Put the leaf first, then its issuers")]
    ChainOrder { index: usize, next: usize },
    #[error("key_pem holds no private key (PKCS#8, PKCS#1 or SEC1 PEM): {0}")]
    NoKey(String),
    #[error("the private key is not usable for TLS: {0}. Use an RSA (2048+), ECDSA P-256/P-384 or Ed25519 key")]
    BadKey(String),
    #[error("the private key does not belong to the certificate. Upload the key that was used for its request")]
    KeyMismatch,
    #[error("the certificate expired at {not_after}. Renew it with your CA and upload the new one")]
    Expired { not_after: String },
    #[error("the certificate is not valid before {not_before}. Check the host clock or wait")]
    NotYetValid { not_before: String },
    #[error("the certificate does not cover {host}: it names {names}. Upload one issued for {host}")]
    HostNotCovered { host: String, names: String },
}

/// A certificate ready to serve, and what the API shows about it.
#[derive(Clone, Debug)]
pub(crate) struct ParsedCert {
    pub(crate) key: Arc<CertifiedKey>,
    /// The DNS names of the leaf (subjectAltName, else the common name), lowercased.
    pub(crate) names: Vec<String>,
    pub(crate) issuer: String,
    /// Unix milliseconds.
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

impl ParsedCert {
    /// True when one of the certificate's names matches `host` (a `*.` name matches exactly one label).
    pub(crate) fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|name| name_covers(name, host))
    }

    /// The leaf in DER, for ARI's certificate identifier.
    pub(crate) fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.key.cert.first()
    }
}

/// A certificate name against a host name: exact, or `*.example.com` for `one.example.com`.
pub(crate) fn name_covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => name == host,
    }
}

/// Parses a PEM chain (leaf first) and its key, and checks that they belong together.
pub(crate) fn parse(cert_pem: &str, key_pem: &str) -> Result<ParsedCert, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .enumerate()
        .map(|(index, c)| c.map_err(|e| CertError::BadCertificate { index, message: e.to_string() }))
        .collect::<Result<_, _>>()?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate);
    }
    let parsed = parse_chain(&chain)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| CertError::NoKey(e.to_string()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| CertError::BadKey(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => return Err(CertError::KeyMismatch),
    }
    let Leaf { names, issuer, not_before, not_after } = parsed;
    Ok(ParsedCert { key: Arc::new(certified), names, issuer, not_before, not_after })
}

/// What the API shows about a chain's leaf.
struct Leaf {
    names: Vec<String>,
    issuer: String,
    not_before: i64,
    not_after: i64,
}

/// The leaf's facts, after checking that every certificate parses and each was issued by the next.
fn parse_chain(chain: &[CertificateDer<'static>]) -> Result<Leaf, CertError> {
    let mut certs = Vec::with_capacity(chain.len());
    for (index, der) in chain.iter().enumerate() {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| CertError::BadCertificate { index, message: e.to_string() })?;
        certs.push(cert);
    }
    for (index, pair) in certs.windows(2).enumerate() {
        if pair[0].issuer() != pair[1].subject() {
            return Err(CertError::ChainOrder { index, next: index + 1 });
        }
    }
    let leaf = &certs[0];
    let validity = leaf.validity();
    Ok(Leaf {
        names: leaf_names(leaf),
        issuer: leaf.issuer().to_string(),
        not_before: validity.not_before.timestamp().saturating_mul(1000),
        not_after: validity.not_after.timestamp().saturating_mul(1000),
    })
}

fn leaf_names(leaf: &X509Certificate<'_>) -> Vec<String> {
    let sans: Vec<String> = leaf
        .iter_extensions()
        .filter_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(san),
            _ => None,
        })
        .flat_map(|san| san.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    if !sans.is_empty() {
        return sans;
    }
    leaf.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase).collect()
}

/// The checks of an uploaded certificate for `host` at `now_ms`, after [`parse`].
pub(crate) fn check_upload(host: &str, cert: &ParsedCert, now_ms: i64) -> Result<(), CertError> {
    if cert.not_after <= now_ms {
        return Err(CertError::Expired { not_after: rfc3339(cert.not_after) });
    }
    if cert.not_before > now_ms {
        return Err(CertError::NotYetValid { not_before: rfc3339(cert.not_before) });
    }
    if !cert.covers(host) {
        return Err(CertError::HostNotCovered { host: host.into(), names: cert.names.join(", ") });
    }
    Ok(())
}

pub(crate) use crate::store::rfc3339;

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
