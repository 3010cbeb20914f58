//! A request the lane does not serve goes to Pingora's pipeline with the bytes already read, for that one
//! request; when the pipeline keeps the connection open, the lane takes it back, with whatever the
//! pipeline read past the request (a pipelined next request), and reads the next request itself.

use super::client::Client;
use super::{Lane, KEEPALIVE};
use pingora::apps::{HttpPersistentSettings, HttpServerApp};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

impl Lane {
    /// Gives the request at the front of the client's buffer, with its connection, to the pipeline; the
    /// connection back when it stays open.
    pub(super) async fn hand_over(&self, client: Client, shutdown: &ShutdownWatch) -> Option<Client> {
        let Client { stream, buf, ip, tls, shutdown: watch } = client;
        let mut session = ServerSession::new_http1(stream);
        session.set_keepalive(if *shutdown.borrow() { None } else { Some(KEEPALIVE.as_secs()) });
        if !buf.is_empty() {
            let mut settings = HttpPersistentSettings::for_session(&session);
            settings.set_pipelined_prefix(buf);
            settings.apply_to_session(&mut session);
        }
        let (stream, settings) = self.proxy.process_new_http(session, shutdown).await?.consume();
        let buf = settings.and_then(|mut s| s.take_pipelined_prefix()).unwrap_or_default();
        Some(Client { stream, buf, ip, tls, shutdown: watch })
    }
}
