//! When each host needs an ACME order (pure: rows and the time in, decisions out): which hosts want a
//! certificate, when one is due for renewal, and how long a host that failed waits before the next try.

use crate::project::{ProjectSpec, TlsMode};
use crate::store::{CertRow, CertStatus};
use std::collections::BTreeSet;

const MINUTE_MS: i64 = 60_000;
/// The longest wait between two failed orders of one host: Let's Encrypt allows 5 failed validations
/// per host and hour, and a wrong DNS record is rarely fixed within minutes.
const MAX_BACKOFF_MS: i64 = 12 * 60 * MINUTE_MS;

/// The hosts that want an ACME certificate: every domain of a project with `tls = "auto"`, and the public
/// admin host. Wildcards need an uploaded certificate (HTTP-01 and TLS-ALPN-01 cannot prove them), and IP
/// literals cannot get one from a public CA.
pub(crate) fn wanted_hosts<'a>(projects: impl Iterator<Item = &'a ProjectSpec>, public_host: &str) -> BTreeSet<String> {
    let mut hosts: BTreeSet<String> = projects
        .filter(|p| p.tls == TlsMode::Auto)
        .flat_map(|p| p.domains.iter())
        .filter(|d| acme_can_prove(d))
        .cloned()
        .collect();
    if acme_can_prove(public_host) {
        hosts.insert(public_host.to_owned());
    }
    hosts
}

fn acme_can_prove(host: &str) -> bool {
    !host.is_empty() && !host.starts_with("*.") && host.parse::<std::net::IpAddr>().is_err() && host.contains('.')
}

/// When a certificate valid from `not_before` to `not_after` is renewed: once a third of its lifetime is
/// left, minus `jitter` (a random share of a twentieth of the lifetime, so many hosts spread out).
pub(crate) fn renew_at(not_before: i64, not_after: i64, jitter: f64) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    let spread = (lifetime as f64 / 20.0 * jitter.clamp(0.0, 1.0)) as i64;
    not_after - lifetime / 3 - spread
}

/// The wait after the `failures`-th failed order in a row: 1, 2, 4 … minutes, at most 12 hours.
pub(crate) fn backoff_ms(failures: i64) -> i64 {
    let doublings = (failures.max(1) - 1).min(16) as u32;
    (MINUTE_MS << doublings).min(MAX_BACKOFF_MS)
}

/// What to do for one wanted host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Order now.
    Now,
    /// Nothing before this time (Unix ms).
    At(i64),
}

/// The next order for a wanted host (one no uploaded certificate serves), from its ACME row if any.
pub(crate) fn due(row: Option<&CertRow>, now: i64) -> Due {
    let Some(row) = row else { return Due::Now };
    let retry = row.retry_at.filter(|_| row.failures > 0).unwrap_or(i64::MIN);
    let renew = match (row.status, row.cert_pem.is_some()) {
        (CertStatus::Valid, true) => match (row.renew_at, row.not_before, row.not_after) {
            (Some(at), ..) => at,
            (None, Some(from), Some(to)) => renew_at(from, to, 0.0),
            _ => now,
        },
        _ => now,
    };
    let at = renew.max(retry);
    if at <= now {
        Due::Now
    } else {
        Due::At(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CertSource;

    const DAY: i64 = 86_400_000;

    fn row(status: CertStatus, cert: bool, failures: i64, retry_at: Option<i64>) -> CertRow {
        CertRow {
            host: "a.test".into(),
            source: CertSource::Acme,
            status,
            cert_pem: cert.then(|| "pem".into()),
            key_pem: None,
            issuer: None,
            not_before: Some(0),
            not_after: Some(90 * DAY),
            renew_at: None,
            error: None,
            failures,
            retry_at,
        }
    }

    #[test]
    fn auto_domains_and_the_public_host_want_certificates_but_wildcards_and_ips_do_not() {
        let mut a = ProjectSpec { name: "a".into(), ..ProjectSpec::default() };
        a.domains = vec!["a.example.com".into(), "*.example.com".into(), "127.0.0.1".into(), "localhost".into()];
        let mut off = ProjectSpec { name: "off".into(), tls: TlsMode::Off, ..ProjectSpec::default() };
        off.domains = vec!["off.example.com".into()];
        let hosts = wanted_hosts([&a, &off].into_iter(), "deploy.example.com");
        assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["a.example.com", "deploy.example.com"]);
    }

    #[test]
    fn renewal_starts_with_a_third_of_the_lifetime_left_spread_by_jitter() {
        assert_eq!(renew_at(0, 90 * DAY, 0.0), 60 * DAY);
        let late = renew_at(0, 90 * DAY, 1.0);
        assert_eq!(late, 60 * DAY - 90 * DAY / 20);
        assert_eq!(renew_at(0, 90 * DAY, 7.0), late, "jitter is clamped");
    }

    #[test]
    fn failures_back_off_exponentially_up_to_twelve_hours() {
        let waits: Vec<i64> = (1..=4).map(backoff_ms).collect();
        assert_eq!(waits, [MINUTE_MS, 2 * MINUTE_MS, 4 * MINUTE_MS, 8 * MINUTE_MS]);
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }

    #[test]
    fn a_host_is_ordered_when_new_when_due_and_never_before_its_retry_time() {
        assert_eq!(due(None, 5), Due::Now);
        let valid = row(CertStatus::Valid, true, 0, None);
        assert_eq!(due(Some(&valid), DAY), Due::At(60 * DAY));
        assert_eq!(due(Some(&valid), 61 * DAY), Due::Now);
        let failed = row(CertStatus::Failed, false, 2, Some(DAY + 5));
        assert_eq!(due(Some(&failed), DAY), Due::At(DAY + 5), "the back-off holds");
        assert_eq!(due(Some(&failed), DAY + 5), Due::Now);
        let renewal_failed = row(CertStatus::Valid, true, 1, Some(61 * DAY));
        assert_eq!(due(Some(&renewal_failed), 60 * DAY + 1), Due::At(61 * DAY));
    }
}
