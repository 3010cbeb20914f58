//! Back-off after repeated failed authentication from one address (pure: time comes in as `now`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures allowed within [`WINDOW`] before an address is refused for [`PENALTY`].
pub(crate) const MAX_FAILURES: u32 = 10;
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
pub(crate) const PENALTY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct Backoff {
    by_address: HashMap<IpAddr, Record>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

impl Backoff {
    /// How long `ip` must still wait, if it is blocked.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.by_address.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    pub(crate) fn failure(&mut self, ip: IpAddr, now: Instant) {
        // Bounded memory: old records are dropped before a scanner could fill the map.
        if self.by_address.len() > 10_000 {
            self.by_address
                .retain(|_, r| now.duration_since(r.since) < WINDOW || r.blocked_until.is_some_and(|u| u > now));
        }
        let record = self.by_address.entry(ip).or_insert(Record { failures: 0, since: now, blocked_until: None });
        if now.duration_since(record.since) > WINDOW {
            *record = Record { failures: 0, since: now, blocked_until: None };
        }
        record.failures += 1;
        if record.failures >= MAX_FAILURES {
            record.blocked_until = Some(now + PENALTY);
        }
    }

    pub(crate) fn success(&mut self, ip: IpAddr) {
        self.by_address.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_repeated_failures_then_forgiven() {
        let (mut b, t0, ip, other) =
            (Backoff::default(), Instant::now(), IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..MAX_FAILURES - 1 {
            b.failure(ip, t0);
        }
        assert_eq!(b.blocked(ip, t0), None);
        b.failure(ip, t0);
        assert_eq!(b.blocked(ip, t0), Some(PENALTY));
        assert_eq!(b.blocked(other, t0), None, "one address never blocks another");
        assert_eq!(b.blocked(ip, t0 + PENALTY), None, "the penalty ends");
        let later = t0 + WINDOW + Duration::from_secs(1);
        b.failure(ip, later);
        assert_eq!(b.blocked(ip, later), None, "failures outside the window start a new count");
        b.success(ip);
        assert!(b.by_address.is_empty());
    }
}
