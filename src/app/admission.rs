//! `[proxy] max_connections` and `max_connections_per_ip`: a client connection past either bound is
//! answered `503` (plain HTTP) or closed (TLS) at once, before any request is read. The count is kept per
//! connection, not per request: a keep-alive connection holds its place until it closes.

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// The open connections by their socket, and how many each address holds (pure: no I/O).
#[derive(Debug, Default)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_ip: usize,
    open: HashMap<i32, Option<IpAddr>>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Total(usize),
    PerIp(usize),
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Admission {
        Admission { max_total, max_per_ip, ..Admission::default() }
    }

    /// Admits socket `fd` from `ip` unless a bound is reached; a socket already admitted (the next request
    /// of a keep-alive connection) passes.
    pub(crate) fn admit(&mut self, fd: i32, ip: Option<IpAddr>) -> Result<(), Refusal> {
        if self.open.contains_key(&fd) {
            return Ok(());
        }
        if self.max_total > 0 && self.open.len() >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        if let Some(ip) = ip {
            let held = self.per_ip.get(&ip).copied().unwrap_or(0);
            if self.max_per_ip > 0 && held >= self.max_per_ip {
                return Err(Refusal::PerIp(self.max_per_ip));
            }
            self.per_ip.insert(ip, held + 1);
        }
        self.open.insert(fd, ip);
        Ok(())
    }

    /// The connection on `fd` closed.
    pub(crate) fn release(&mut self, fd: i32) {
        let Some(Some(ip)) = self.open.remove(&fd) else { return };
        if let Some(held) = self.per_ip.get_mut(&ip) {
            *held -= 1;
            if *held == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// The proxy app behind the admission check.
pub(crate) struct Admitted<A> {
    pub(crate) inner: Arc<A>,
    pub(crate) admission: Mutex<Admission>,
}

/// The answer to a refused plain-HTTP connection.
fn refused(why: &Refusal) -> String {
    let body = match why {
        Refusal::Total(n) => format!("The gateway holds {n} connections (proxy.max_connections); retry shortly.\n"),
        Refusal::PerIp(n) => {
            format!("Your address holds {n} connections (proxy.max_connections_per_ip); close some.\n")
        }
    };
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 5\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Admitted<A> {
    async fn process_new(self: &Arc<Self>, mut session: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let fd = session.id();
        let ip = session.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let admitted = crate::lock::lock(&self.admission).admit(fd, ip);
        if let Err(refusal) = admitted {
            tracing::debug!("connection from {ip:?} refused: {refusal:?}");
            if session.get_ssl().is_none() {
                let _ = session.write_all(refused(&refusal).as_bytes()).await;
                let _ = session.flush().await;
            }
            return None;
        }
        let reused = self.inner.process_new(session, shutdown).await;
        if reused.is_none() {
            crate::lock::lock(&self.admission).release(fd);
        }
        reused
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_per_connection_and_per_address_and_free_on_close() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut admission = Admission::new(3, 2);
        assert_eq!(admission.admit(1, Some(a)), Ok(()));
        assert_eq!(admission.admit(1, Some(a)), Ok(()), "the next request of an open connection");
        assert_eq!(admission.admit(2, Some(a)), Ok(()));
        assert_eq!(admission.admit(3, Some(a)), Err(Refusal::PerIp(2)));
        assert_eq!(admission.admit(4, Some(b)), Ok(()));
        assert_eq!(admission.admit(5, Some(b)), Err(Refusal::Total(3)));
        admission.release(1);
        assert_eq!(admission.admit(3, Some(a)), Ok(()), "a closed connection frees its place");
        admission.release(99);
        let mut off = Admission::new(0, 0);
        assert!((0..10_000).all(|fd| off.admit(fd, Some(a)).is_ok()), "0 is off");
    }
}
