//! The lane's pure rules with plain inputs, public so the `lane` fuzz target can hold them against
//! Pingora's own types: what goes upstream for a request, what the client gets for an answer, and what
//! a chunked body holds.

use super::answer;
use super::ask::{self, Parsed};
use super::chunked::Chunked;
use crate::routes::normalize_host;

/// The head the lane sends upstream for the request at the start of `raw` (from client address `ip`, over
/// plain HTTP, `id` as the request id it makes up), or `None` when the lane hands the request to Pingora.
pub fn upstream_head(raw: &[u8], ip: &str, id: &str) -> Option<Vec<u8>> {
    let mut storage = ask::storage();
    let Parsed::Take(ask) = ask::parse(raw, &mut storage) else { return None };
    let host = normalize_host(ask.host)?.into_owned();
    Some(ask::upstream_head(*ask, Some(ip), &host, false, id))
}

/// The head the client gets for the answer at the start of `raw`, or `None` when the lane refuses it (the
/// client then gets a 502) or it is incomplete.
pub fn downstream_head(raw: &[u8], head_request: bool, cookie: Option<&str>, keep_alive: bool) -> Option<Vec<u8>> {
    let head = answer::parse(raw, head_request).ok()??;
    let mut out = Vec::new();
    head.downstream(cookie, keep_alive, b"DATE", &mut out);
    Some(out)
}

/// The data of a chunked body fed in `pieces`, and how many bytes of them were the body; `None` when it is
/// malformed or unfinished.
pub fn dechunk(pieces: &[&[u8]]) -> Option<(Vec<u8>, usize)> {
    let (mut reader, mut data, mut used) = (Chunked::default(), Vec::new(), 0);
    for piece in pieces {
        let mut ranges = Vec::new();
        used += reader.feed(piece, &mut ranges).ok()?;
        ranges.iter().for_each(|(from, to)| data.extend_from_slice(&piece[*from..*to]));
    }
    reader.done().then_some((data, used))
}
