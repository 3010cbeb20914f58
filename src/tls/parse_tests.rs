use super::*;
use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair};

const DAY_MS: i64 = 86_400_000;

struct Made {
    cert_pem: String,
    key_pem: String,
}

/// A CA-issued leaf for `names`, valid from `from_days` to `to_days` around `now`; `chain` appends the CA.
fn leaf(names: &[&str], from_days: i64, to_days: i64, chain: bool) -> Made {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let mut cert_pem = cert.pem();
    if chain {
        cert_pem.push_str(&ca_cert.pem());
    }
    Made { cert_pem, key_pem: key.serialize_pem() }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

#[test]
fn a_good_chain_parses_with_its_facts() {
    let made = leaf(&["app.example.com"], -1, 30, true);
    let cert = parse(&made.cert_pem, &made.key_pem).unwrap();
    assert_eq!(cert.names, vec!["app.example.com"]);
    assert!(cert.issuer.contains("Test CA"), "{}", cert.issuer);
    assert!(cert.not_after > now() + 29 * DAY_MS);
    assert_eq!(cert.key.cert.len(), 2);
    check_upload("app.example.com", &cert, now()).unwrap();
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let made = leaf(&["app.example.com"], -1, 30, false);
    let other = leaf(&["app.example.com"], -1, 30, false);
    assert_eq!(parse(&made.cert_pem, &other.key_pem).unwrap_err(), CertError::KeyMismatch);
}

#[test]
fn expired_future_and_foreign_certificates_are_refused_for_upload() {
    let expired = parse_made(leaf(&["app.example.com"], -30, -1, false));
    assert!(matches!(check_upload("app.example.com", &expired, now()), Err(CertError::Expired { .. })));
    let future = parse_made(leaf(&["app.example.com"], 2, 30, false));
    assert!(matches!(check_upload("app.example.com", &future, now()), Err(CertError::NotYetValid { .. })));
    let other = parse_made(leaf(&["other.example.com"], -1, 30, false));
    let err = check_upload("app.example.com", &other, now()).unwrap_err();
    assert!(err.to_string().contains("other.example.com"), "{err}");
}

#[test]
fn wildcards_cover_one_label() {
    let wild = parse_made(leaf(&["*.example.com"], -1, 30, false));
    assert!(wild.covers("a.example.com"));
    assert!(!wild.covers("example.com"));
    assert!(!wild.covers("a.b.example.com"));
    check_upload("*.example.com", &wild, now()).unwrap();
    assert!(name_covers("*.example.com", "x.example.com"));
    assert!(!name_covers("*.example.com", ".example.com"));
}

#[test]
fn garbage_and_misordered_chains_say_what_is_wrong() {
    let made = leaf(&["app.example.com"], -1, 30, true);
    assert_eq!(parse("hello", &made.key_pem).unwrap_err(), CertError::NoCertificate);
    assert!(matches!(parse(&made.cert_pem, "nope").unwrap_err(), CertError::NoKey(_)));
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(parse(broken, &made.key_pem).unwrap_err(), CertError::BadCertificate { index: 0, .. }));
    let (leaf_pem, ca_pem) = made.cert_pem.split_at(made.cert_pem.find("-----END CERTIFICATE-----").unwrap() + 26);
    let reversed = format!("{ca_pem}{leaf_pem}");
    assert!(matches!(
        parse(&reversed, &made.key_pem).unwrap_err(),
        CertError::ChainOrder { .. } | CertError::KeyMismatch
    ));
}

fn parse_made(made: Made) -> ParsedCert {
    parse(&made.cert_pem, &made.key_pem).unwrap()
}
