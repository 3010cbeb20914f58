//! One client connection of the lane: its stream, the bytes read of its next request, and the writes of
//! the gateway's own answers.

use super::relay;
use crate::proxy::Answer;
use bytes::BytesMut;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::cell::RefCell;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

/// Most bytes one read from a client takes (through the thread's scratch space).
const READ_SCRATCH: usize = 16 * 1024;

thread_local! {
    /// Each proxy thread runs one single-threaded runtime: reads go through this space, which no read
    /// holds across an await, and only what arrived is kept per connection.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SCRATCH].into_boxed_slice());
}

pub(super) struct Client {
    pub(super) stream: Stream,
    pub(super) buf: BytesMut,
    pub(super) ip: Option<String>,
    pub(super) tls: bool,
    pub(super) shutdown: ShutdownWatch,
}

impl Client {
    pub(super) fn new(stream: Stream, shutdown: ShutdownWatch) -> Client {
        let ip = stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let tls = stream.get_ssl_digest().is_some();
        Client { stream, buf: BytesMut::new(), ip: ip.map(|ip| ip.to_string()), tls, shutdown }
    }

    /// Reads more of the next request, waiting at most `wait`; false when the connection is done (closed,
    /// silent too long, or the gateway shuts down: then connections waiting for a request are dropped, as
    /// Pingora's path drops them, so they end before the runtime stops; bytes already sent are read first).
    pub(super) async fn read_more(&mut self, wait: Duration) -> bool {
        let read = tokio::time::timeout(wait, read_into(&mut self.stream, &mut self.buf));
        let read = tokio::select! {
            biased;
            read = read => read,
            Ok(()) = self.shutdown.changed() => return false,
        };
        matches!(read, Ok(Ok(n)) if n > 0)
    }

    /// Drops the request of `len` bytes at the front of the buffer, once it is answered.
    pub(super) fn consume(&mut self, len: usize) {
        let _ = self.buf.split_to(len);
        // An idle connection keeps no buffer; the next read allocates what arrives.
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// Writes the gateway's own answer as Pingora's session would write it.
    pub(super) async fn write_answer(
        &mut self,
        answer: &Answer,
        json: bool,
        head_request: bool,
        keep_alive: bool,
    ) -> Result<(), ()> {
        let mut out = answer.wire(json, head_request, keep_alive).map_err(|_| ())?;
        relay::write(&mut self.stream, &mut out).await
    }
}

/// Reads what the client has sent into `buf`, through this thread's scratch space, so a connection waiting
/// for its next request holds no buffer of its own. `Ok(0)`: the client closed.
async fn read_into(stream: &mut Stream, buf: &mut BytesMut) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch[..]);
            match Pin::new(&mut *stream).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    buf.extend_from_slice(read.filled());
                    Poll::Ready(Ok(read.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}
