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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
    use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};

    const DAY: i64 = 86_400_000;

    /// A CA that serves its directory (with or without `renewalInfo`) and one suggested window.
    struct FakeCa {
        ari: bool,
        window: (String, String),
        asked: Arc<Mutex<Vec<String>>>,
    }

    impl HttpClient for FakeCa {
        fn request(
            &self,
            req: http::Request<BodyWrapper<bytes::Bytes>>,
        ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
            let path = req.uri().path().to_owned();
            self.asked.lock().unwrap().push(path.clone());
            let body = if path == "/dir" {
                let mut dir = serde_json::json!({"newNonce": "https://ca.test/nonce", "newAccount": "https://ca.test/acct",
                    "newOrder": "https://ca.test/order"});
                if self.ari {
                    dir["renewalInfo"] = "https://ca.test/ari".into();
                }
                dir
            } else {
                serde_json::json!({"suggestedWindow": {"start": self.window.0, "end": self.window.1}})
            };
            let mut rsp = http::Response::new(BodyWrapper::from(body.to_string().into_bytes()));
            rsp.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("21600"));
            Box::pin(async move { Ok(BytesResponse::from(rsp)) })
        }
    }

    async fn account(ca: FakeCa) -> Account {
        let key = rcgen::KeyPair::generate().unwrap();
        let credentials = serde_json::json!({"id": "https://ca.test/acct/1", "directory": "https://ca.test/dir",
            "key_pkcs8": BASE64_URL_SAFE_NO_PAD.encode(key.serialize_der())});
        let credentials = serde_json::from_value(credentials).unwrap();
        Account::builder_with_http(Box::new(ca)).from_credentials(credentials).await.unwrap()
    }

    /// A 90-day leaf issued by a CA key, with the authority key identifier ARI needs.
    fn leaf() -> ParsedCert {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.use_authority_key_identifier_extension = true;
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = params.not_before + time::Duration::days(90);
        let cert = params.signed_by(&key, &issuer).unwrap();
        crate::tls::parse(&cert.pem(), &key.serialize_pem()).unwrap()
    }

    #[tokio::test]
    async fn the_cas_suggested_window_wins_where_it_offers_renewal_information() {
        let cert = leaf();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let window = ("2030-01-01T00:00:00Z".to_string(), "2030-01-02T00:00:00Z".to_string());
        let ca = FakeCa { ari: true, window, asked: asked.clone() };
        let at = renew_at(Some(&account(ca).await), &cert).await;
        let (start, end) = (1_893_456_000_000, 1_893_542_400_000);
        assert!((start..=end).contains(&at), "{at} is inside the CA's window");
        let id = identifier(cert.leaf().unwrap().as_ref()).unwrap().to_string();
        assert!(asked.lock().unwrap().iter().any(|p| p == &format!("/ari/{id}")), "{asked:?}");
    }

    #[tokio::test]
    async fn without_renewal_information_a_third_of_the_lifetime_is_left() {
        let cert = leaf();
        let ca = FakeCa { ari: false, window: Default::default(), asked: Arc::default() };
        let at = renew_at(Some(&account(ca).await), &cert).await;
        let third = cert.not_after - 30 * DAY;
        assert!((third - 90 * DAY / 20..=third).contains(&at), "{at} vs {third}");
    }
}
