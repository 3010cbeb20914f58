//! The lane's response side (pure): how an upstream's answer is framed, whether its connection may be
//! used again, and the head the client gets — what Pingora's client, the gateway's `response_filter` and
//! Pingora's server session make of the same answer (Content-Length dropped beside Transfer-Encoding, a
//! close-delimited body turned chunked, the canary cookie appended, `Date` and `Connection` set).

use super::fields::Fields;
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// Pingora's limit on an answer's header fields.
const MAX_FIELDS: usize = 256;

/// How the answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (HEAD, 204, 304) or an interim answer.
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes; the client gets it chunked.
    UntilClose,
}

/// A parsed answer head.
pub(super) struct Head<'a> {
    pub(super) len: usize,
    pub(super) status: u16,
    pub(super) framing: Framing,
    /// The upstream keeps its connection open after this answer.
    pub(super) keep_alive: bool,
    http11: bool,
    reason: &'a str,
    fields: Fields<'a>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum AnswerError {
    #[error("the upstream's answer is not HTTP/1: {0}")]
    Malformed(httparse::Error),
    #[error("the upstream answered with a framing the gateway does not pass on: {0}")]
    Framing(&'static str),
}

/// The answer head at the start of `buf`, `None` while incomplete. `head_request`: the request was HEAD.
pub(super) fn parse(buf: &[u8], head_request: bool) -> Result<Option<Head<'_>>, AnswerError> {
    // Uninitialised: filling 256 fields first wrote 8 KiB for every answer, twice (once to see the head is
    // complete, once to pass it on), the lane's largest cost per request in a profile.
    let mut storage = [const { MaybeUninit::uninit() }; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut []);
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    config.allow_obsolete_multiline_headers_in_responses(true);
    let parsed = config.parse_response_with_uninit_headers(&mut resp, buf, &mut storage);
    let len = match parsed.map_err(AnswerError::Malformed)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Err(AnswerError::Framing("no status line"));
    };
    if !(100..1000).contains(&status) {
        return Err(AnswerError::Framing("a status code outside 100-999"));
    }
    if status == 101 {
        return Err(AnswerError::Framing("101 to a request that did not ask to upgrade"));
    }
    let mut fields = Fields::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        fields.append(h.name.as_bytes(), normalised(h.value));
    }
    let keep_alive = keeps_alive(&fields, version == 1);
    let framing = framing(&mut fields, status, head_request)?;
    let reason = resp.reason.unwrap_or_default();
    Ok(Some(Head { len, status, framing, keep_alive, http11: version == 1, reason, fields }))
}

/// A value as Pingora stores it: obs-folds and stray CR, LF and NUL become spaces.
fn normalised(value: &[u8]) -> Cow<'_, [u8]> {
    if value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Cow::Owned(pingora::http::header_value_from_slice(value).as_bytes().to_vec())
    } else {
        Cow::Borrowed(value)
    }
}

fn keeps_alive(fields: &Fields<'_>, http11: bool) -> bool {
    let tokens = || fields.get_all(b"connection").flat_map(|v| v.split(|b| *b == b',')).map(<[u8]>::trim_ascii);
    if http11 {
        !tokens().any(|t| t.eq_ignore_ascii_case(b"close"))
    } else {
        tokens().any(|t| t.eq_ignore_ascii_case(b"keep-alive"))
    }
}

fn framing(fields: &mut Fields<'_>, status: u16, head_request: bool) -> Result<Framing, AnswerError> {
    // As Pingora's client: Transfer-Encoding drops Content-Length, and a Content-Length left is checked,
    // whether or not the answer has a body.
    let chunked = fields.get_all(b"transfer-encoding").last().map(|last| last.eq_ignore_ascii_case(b"chunked"));
    let length = match chunked {
        Some(_) => {
            fields.remove(b"content-length");
            None
        }
        None => content_length(fields)?,
    };
    if (100..200).contains(&status) || matches!(status, 204 | 304) || head_request {
        return Ok(Framing::Empty);
    }
    match (chunked, length) {
        (Some(true), _) => Ok(Framing::Chunked),
        (Some(false), _) => Err(AnswerError::Framing("a Transfer-Encoding other than chunked")),
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(Framing::UntilClose),
    }
}

/// The one Content-Length; more than one (even equal ones, which Pingora merges) is refused.
fn content_length(fields: &Fields<'_>) -> Result<Option<u64>, AnswerError> {
    let mut lengths = fields.get_all(b"content-length");
    match (lengths.next(), lengths.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or(AnswerError::Framing("a Content-Length that is not a number")),
        _ => Err(AnswerError::Framing("more than one Content-Length")),
    }
}

impl<'a> Head<'a> {
    pub(super) fn interim(&self) -> bool {
        (100..200).contains(&self.status)
    }

    /// The head as the client gets it. `cookie`: the canary cookie to set; `keep_alive`: whether the client
    /// connection stays open; `date`: the current `Date` value.
    pub(super) fn downstream<'d>(self, cookie: Option<&'d str>, keep_alive: bool, date: &'d [u8], out: &mut Vec<u8>)
    where
        'a: 'd,
    {
        let (mut http11, interim) = (self.http11, self.interim());
        let mut fields: Fields<'d> = self.fields;
        if !interim {
            if self.framing == Framing::UntilClose {
                http11 = true;
                fields.insert(&b"Transfer-Encoding"[..], &b"chunked"[..]);
            }
            if let Some(cookie) = cookie {
                fields.append(&b"Set-Cookie"[..], cookie.as_bytes());
            }
            fields.insert(&b"Date"[..], date);
            fields.insert(&b"Connection"[..], if keep_alive { &b"keep-alive"[..] } else { &b"close"[..] });
        }
        out.extend_from_slice(if http11 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
        // Three digits, 100-999: `parse` refuses the rest.
        out.extend_from_slice(&[
            b'0' + (self.status / 100) as u8,
            b'0' + (self.status / 10 % 10) as u8,
            b'0' + (self.status % 10) as u8,
        ]);
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        fields.write(out);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
