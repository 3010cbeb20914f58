//! The admin listener as a Pingora service: Pingora hands over only the sockets in its table, so the
//! admin socket is put there (or taken from there after an upgrade) and then given to the control plane,
//! which serves axum on it.

use async_trait::async_trait;
use pingora::server::{ListenFds, ShutdownWatch};
use pingora::services::{ServiceReadyNotifier, ServiceWithDependents};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use tokio::sync::oneshot;

/// What the control plane receives: a listener for axum, or why there is none.
pub(crate) type AdminSocket = Result<TcpListener, String>;

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
    fn open(&mut self, fds: Option<ListenFds>) -> AdminSocket {
        let fail = |e: std::io::Error| {
            format!("cannot listen on admin.listen = {}: {e}. Is another process using it? Change admin.listen or stop that process", self.addr)
        };
        let inherited = fds.as_ref().and_then(|f| f.lock().get(&self.addr).copied());
        let listener = match inherited {
            Some(fd) => adopt(fd),
            None => {
                let listener = TcpListener::bind(&self.addr).map_err(fail)?;
                if let Some(fds) = &fds {
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
        let socket = self.open(fds);
        if let Some(deliver) = self.deliver.take() {
            let _ = deliver.send(socket);
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
