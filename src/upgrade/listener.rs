//! The admin listener as a Pingora service: Pingora hands over only the sockets in its table, so the
//! admin socket is put there (or taken from there after an upgrade) and then given to the control plane,
//! which serves axum on it.

use async_trait::async_trait;
use pingora::server::{ListenFds, ShutdownWatch};
use pingora::services::{ServiceReadyNotifier, ServiceWithDependents};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use tokio::sync::oneshot;

/// What the control plane receives: a listener for axum (or why there is none), and Pingora's table of
/// listening sockets.
pub(crate) type AdminSocket = (Result<TcpListener, String>, Option<ListenFds>);

pub(crate) struct AdminListener {
    addr: String,
    deliver: Option<oneshot::Sender<AdminSocket>>,
    /// The socket itself, open for the life of the process so a later upgrade can pass it on.
    held: Option<TcpListener>,
}

impl AdminListener {
    pub(crate) fn new(addr: &str) -> (AdminListener, oneshot::Receiver<AdminSocket>) {
        let (deliver, receive) = oneshot::channel();
        (AdminListener { addr: addr.to_owned(), deliver: Some(deliver), held: None }, receive)
    }

    /// The inherited socket after an upgrade, else a new one, registered for the next upgrade.
    fn open(&mut self, fds: Option<&ListenFds>) -> Result<TcpListener, String> {
        let fail = |e: std::io::Error| {
            format!("cannot listen on admin.listen = {}: {e}. Is another process using it? Change admin.listen or stop that process", self.addr)
        };
        let inherited = fds.and_then(|f| f.lock().get(&self.addr).copied());
        let listener = match inherited {
            Some(fd) => adopt(fd),
            None => {
                let listener = TcpListener::bind(&self.addr).map_err(fail)?;
                if let Some(fds) = fds {
                    fds.lock().add(self.addr.clone(), listener.as_raw_fd());
                }
                listener
            }
        };
        let served = listener.try_clone().map_err(fail)?;
        served.set_nonblocking(true).map_err(fail)?;
        self.held = Some(listener);
        Ok(served)
    }
}

/// Seconds the kernel holds a new connection until its first bytes arrive (`TCP_DEFER_ACCEPT`).
const DEFER_ACCEPT_S: libc::c_int = 10;

/// Sets `TCP_DEFER_ACCEPT` on the proxy's listening sockets in Pingora's table: a connection is accepted
/// only once its request (or TLS ClientHello) has arrived. Pingora drops accepted connections that are
/// still waiting for their first request when it shuts down, which a retiring process does 5 s after an
/// upgrade's hand-over; with this there are none (nginx's `listen … deferred`). The option lives on the
/// socket, so a successor inherits it.
pub(crate) async fn defer_accept(fds: ListenFds, addrs: Vec<String>) {
    for _ in 0..100 {
        let found: Vec<_> = addrs.iter().filter_map(|a| fds.lock().get(a).map(|fd| (a.clone(), *fd))).collect();
        if found.len() == addrs.len() {
            for (addr, fd) in found {
                if let Err(e) = set_defer_accept(fd) {
                    tracing::warn!(
                        "cannot set TCP_DEFER_ACCEPT on {addr}: {e}; an upgrade may drop a just-opened connection"
                    );
                }
            }
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tracing::warn!("the proxy's listening sockets did not appear in Pingora's table; TCP_DEFER_ACCEPT not set");
}

#[allow(unsafe_code)]
fn set_defer_accept(fd: RawFd) -> std::io::Result<()> {
    let value = DEFER_ACCEPT_S;
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` lives across the call and `size` is its size; setsockopt only reads it. `fd` is a
    // listening socket Pingora keeps open for the life of the process.
    let done =
        unsafe { libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, (&raw const value).cast(), size) };
    if done < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The one place a raw descriptor becomes a socket object.
#[allow(unsafe_code)]
fn adopt(fd: RawFd) -> TcpListener {
    // SAFETY: `fd` came from the old process through Pingora's transfer under the key admin.listen, so it
    // is an open listening TCP socket, and nothing else in this process owns it: Pingora's table keeps the
    // number only to pass it on, and `held` keeps the object open for the life of the process.
    unsafe { TcpListener::from_raw_fd(fd) }
}

#[async_trait]
impl ServiceWithDependents for AdminListener {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        mut shutdown: ShutdownWatch,
        _listeners_per_fd: usize,
        ready: ServiceReadyNotifier,
    ) {
        let socket = self.open(fds.as_ref());
        if let Some(deliver) = self.deliver.take() {
            let _ = deliver.send((socket, fds));
        }
        ready.notify_ready();
        let _ = shutdown.changed().await;
    }

    fn name(&self) -> &str {
        "admin listener"
    }

    fn threads(&self) -> Option<usize> {
        Some(1)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        Some(vec![self.addr.clone()])
    }
}
