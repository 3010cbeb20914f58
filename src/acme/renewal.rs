//! When an issued certificate is renewed: the CA's suggested window (ACME Renewal Information, RFC 9773)
//! where the directory offers it, else a third of the lifetime before expiry with jitter.

use super::schedule;
use crate::tls::ParsedCert;
use instant_acme::{Account, CertificateIdentifier};
use rustls_pki_types::Der;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

/// The renewal time (Unix ms) of a freshly issued certificate.
pub(super) async fn renew_at(account: Option<&Account>, cert: &ParsedCert) -> i64 {
    let fallback = schedule::renew_at(cert.not_before, cert.not_after, random_share());
    let (Some(account), Some(id)) = (account, cert.leaf().and_then(|der| identifier(der.as_ref()))) else {
        return fallback;
    };
    match account.renewal_info(&id).await {
        Ok((info, _)) => {
            let start = info.suggested_window.start.unix_timestamp() * 1000;
            let end = info.suggested_window.end.unix_timestamp() * 1000;
            start + ((end - start).max(0) as f64 * random_share()) as i64
        }
        Err(instant_acme::Error::Unsupported(_)) => fallback,
        Err(e) => {
            tracing::info!("no renewal information from the CA ({e}); renewing with a third of the lifetime left");
            fallback
        }
    }
}

/// The ARI identifier of a certificate: its authority key identifier and serial number.
fn identifier(leaf: &[u8]) -> Option<CertificateIdentifier<'static>> {
    let (_, cert) = X509Certificate::from_der(leaf).ok()?;
    let aki = cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    })?;
    let serial = cert.tbs_certificate.raw_serial().to_vec();
    Some(CertificateIdentifier::new(Der::from_slice(&aki), Der::from_slice(&serial)).into_owned())
}

/// A uniform number in [0, 1).
fn random_share() -> f64 {
    let bytes = crate::secrets::random::<4>().unwrap_or_default();
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}
