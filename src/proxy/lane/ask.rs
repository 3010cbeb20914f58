//! The lane's request side (pure): which request heads the lane takes, and the head it sends upstream for
//! one — the bytes Pingora's path sends for the same request (`check::sanitized`, then
//! `forwarded_headers`, then Pingora's serialiser). Anything the lane does not take, Pingora's path gets
//! with the bytes already read, so the lane's rules only need to be narrow, never complete.

use super::fields::Fields;
use std::mem::MaybeUninit;

/// Most header fields in a request the lane takes; more go to Pingora's path, which applies its limits.
pub(super) const MAX_FIELDS: usize = 64;
/// Requests whose head is not complete within this many bytes go to Pingora's path.
pub(super) const MAX_HEAD: usize = 16 * 1024;

const ACME_PREFIX: &str = "/.well-known/acme-challenge/";

/// Fields whose presence Pingora's upstream request policy acts on (strips, rewrites or frames by), and
/// `Expect`, whose interim answer the pipeline handles: a request with one goes to the pipeline.
pub(super) const PIPELINE_FIELDS: [&str; 11] = [
    "keep-alive",
    "close",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "expect",
];

/// A request head the lane takes.
pub(super) struct Ask<'a> {
    /// Bytes of the head in the buffer.
    pub(super) len: usize,
    pub(super) method: &'a str,
    pub(super) target: &'a str,
    /// The raw Host value.
    pub(super) host: &'a str,
    pub(super) cookie: Option<&'a str>,
    /// The client asked to close the connection after this answer.
    pub(super) close: bool,
    pub(super) fields: Fields<'a>,
}

impl Ask<'_> {
    pub(super) fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// What the buffer holds.
pub(super) enum Parsed<'a> {
    /// Not a whole head yet.
    Partial,
    Take(Box<Ask<'a>>),
    /// For Pingora's path: anything else, including what it must refuse.
    HandOver,
}

/// Room for a head's fields. Left uninitialised: httparse writes only the fields it finds, and filling all
/// 64 first cost every request a 2 KiB write.
pub(super) type Storage<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_FIELDS];

pub(super) fn storage<'b>() -> Storage<'b> {
    [const { MaybeUninit::uninit() }; MAX_FIELDS]
}

/// Parses the head at the start of `buf` and decides whether the lane takes it.
pub(super) fn parse<'b>(buf: &'b [u8], storage: &mut Storage<'b>) -> Parsed<'b> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, storage) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::HandOver,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::HandOver;
    };
    match taken(method, target, req.headers, len) {
        Some(ask) => Parsed::Take(Box::new(ask)),
        None => Parsed::HandOver,
    }
}

fn taken<'b>(method: &'b str, target: &'b str, headers: &[httparse::Header<'b>], len: usize) -> Option<Ask<'b>> {
    // The idempotent methods of `http::Method::is_idempotent`, as `check::eligible` takes them.
    let idempotent = matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE");
    if !idempotent || !plain_target(target) || target.starts_with(ACME_PREFIX) {
        return None;
    }
    let mut fields = Fields::with_capacity(headers.len());
    let (mut host, mut hosts, mut close) = (None, 0, false);
    for h in headers {
        let name = h.name;
        if !h.value.iter().all(|&b| b == b'\t' || b >= b' ' && b != 0x7f) {
            return None;
        }
        if PIPELINE_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            return None;
        }
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host = Some(std::str::from_utf8(h.value).ok().filter(|v| plain_host(v))?);
        } else if name.eq_ignore_ascii_case("content-length") && h.value != b"0" {
            return None;
        } else if name.eq_ignore_ascii_case("connection") {
            close |= connection_closes(h.value)?;
        }
        fields.append(name.as_bytes(), h.value);
    }
    if hosts != 1 || fields.get_all(b"content-length").count() > 1 {
        return None;
    }
    let cookie = headers.iter().find(|h| h.name.eq_ignore_ascii_case("cookie"));
    let cookie = cookie.and_then(|h| std::str::from_utf8(h.value).ok()).filter(|v| visible(v));
    Some(Ask { len, method, target, host: host?, cookie, close, fields })
}

/// Whether a `Connection` value asks to close; `None` when it names anything but `keep-alive` or `close`.
fn connection_closes(value: &[u8]) -> Option<bool> {
    let mut close = false;
    for token in value.split(|b| *b == b',') {
        let token = token.trim_ascii();
        if token.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if !token.eq_ignore_ascii_case(b"keep-alive") {
            return None;
        }
    }
    Some(close)
}

/// An origin-form target of URI characters only (RFC 3986 pchar, `/`, `?`).
fn plain_target(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
}

/// A host name, IPv4 or bracketed IPv6 literal, with an optional port: nothing Pingora's authority check
/// could refuse.
fn plain_host(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// What `HeaderValue::to_str` accepts.
fn visible(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The head Pingora's path sends upstream for `ask`: `Connection` dropped, then the forwarding fields
/// `proxy::request::forwarded_headers` sets, in its order and with its names' case.
pub(super) fn upstream_head<'a>(
    mut ask: Ask<'a>,
    client: Option<&'a str>,
    host: &'a str,
    tls: bool,
    id: &'a str,
) -> Vec<u8> {
    let fields = &mut ask.fields;
    fields.remove(b"connection");
    if let Some(ip) = client {
        let prior = fields.get(b"x-forwarded-for").and_then(|v| std::str::from_utf8(v).ok()).filter(|v| visible(v));
        match prior {
            Some(prior) => fields.insert(&b"x-forwarded-for"[..], format!("{prior}, {ip}").into_bytes()),
            None => fields.insert(&b"x-forwarded-for"[..], ip.as_bytes()),
        }
    }
    fields.insert(&b"x-forwarded-proto"[..], if tls { &b"https"[..] } else { &b"http"[..] });
    if !host.is_empty() {
        fields.insert(&b"x-forwarded-host"[..], host.as_bytes());
    }
    if !fields.contains(b"x-request-id") {
        fields.insert(&b"x-request-id"[..], id.as_bytes());
    }
    let mut out = Vec::with_capacity(ask.len + 160);
    out.extend_from_slice(ask.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(ask.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    ask.fields.write(&mut out);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
#[path = "ask_tests.rs"]
mod tests;
