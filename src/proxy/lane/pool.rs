//! Idle upstream connections of the lane, kept per proxy thread: each proxy thread runs its own
//! single-threaded runtime, so a thread's pool needs no lock and a request takes a connection made on its
//! own thread. Connections idle longer than `UPSTREAM_IDLE` are closed, as Pingora's pool does, so a
//! retired slot stops holding sockets within seconds of a switch.

use crate::proxy::UPSTREAM_IDLE;
use pingora::protocols::Stream;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most idle connections one thread keeps, over all upstreams (Pingora's default pool holds 128).
const MAX_IDLE: usize = 128;
const SWEEP_EVERY: Duration = Duration::from_secs(1);

struct Idle {
    addr: SocketAddr,
    since: Instant,
    stream: Stream,
}

thread_local! {
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

/// The most recently used idle connection to `addr` that is still young enough.
pub(super) fn take(addr: SocketAddr) -> Option<Stream> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let at = idle.iter().rposition(|c| c.addr == addr && c.since.elapsed() < UPSTREAM_IDLE)?;
        Some(idle.swap_remove(at).stream)
    })
}

/// Keeps `stream` for the next request to `addr`; the oldest connection goes when the pool is full.
pub(super) fn put(addr: SocketAddr, stream: Stream) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        if idle.len() >= MAX_IDLE {
            let oldest = idle.iter().enumerate().min_by_key(|(_, c)| c.since).map(|(i, _)| i);
            if let Some(i) = oldest {
                idle.swap_remove(i);
            }
        }
        idle.push(Idle { addr, since: Instant::now(), stream });
    });
    if !SWEEPING.with(|s| s.replace(true)) {
        tokio::spawn(sweep());
    }
}

/// Closes this thread's expired connections every second while it has any.
async fn sweep() {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let left = IDLE.with(|idle| {
            let mut idle = idle.borrow_mut();
            idle.retain(|c| c.since.elapsed() < UPSTREAM_IDLE);
            idle.len()
        });
        if left == 0 {
            SWEEPING.with(|s| s.set(false));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Stream {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        Box::new(pingora::protocols::l4::stream::Stream::from(tokio::net::UnixStream::from_std(a).unwrap()))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_connection_is_reused_for_its_own_upstream_only() {
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        assert!(take(a).is_none());
        put(a, stream());
        assert!(take(b).is_none(), "another upstream's connection is not used");
        assert!(take(a).is_some());
        assert!(take(a).is_none(), "taken once");
        for _ in 0..MAX_IDLE + 5 {
            put(b, stream());
        }
        assert_eq!(IDLE.with(|i| i.borrow().len()), MAX_IDLE, "bounded");
        IDLE.with(|i| i.borrow_mut().clear());
    }
}
