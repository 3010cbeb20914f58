//! Trying the warm slot once when the live one fails a request that can safely be sent again.

use super::RequestCtx;
use http::header;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// Whether the request may carry a body, so replaying it on another slot is not safe.
fn has_body(req: &RequestHeader) -> bool {
    let length = req.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    req.headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|l| l.trim() != "0")
}

/// Points a failed body-less request at the warm slot (or the live one, if the failure was on the
/// warm one) once; false when there is none to try or it was already retried.
pub(super) fn retry_on_warm(session: &Session, ctx: &mut RequestCtx) -> bool {
    let warm = ctx.route.as_ref().and_then(|r| r.warm.or(r.live));
    let other = warm.filter(|w| Some(w.addr) != ctx.upstream.map(|u| u.addr));
    match other.filter(|_| !ctx.retried && !has_body(session.req_header())) {
        Some(other) => {
            ctx.retried = true;
            ctx.hold(other);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodyless_requests_count_as_replayable() {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        assert!(!has_body(&r));
        r.insert_header("content-length", "0").unwrap();
        assert!(!has_body(&r));
        r.insert_header("content-length", "12").unwrap();
        assert!(has_body(&r));
        let mut chunked = RequestHeader::build("POST", b"/", None).unwrap();
        chunked.insert_header("transfer-encoding", "chunked").unwrap();
        assert!(has_body(&chunked));
    }
}
