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

/// Points a failed body-less request once at a warm member, or another active one; false when there is
/// none to try or it was already retried.
pub(super) fn retry_on_warm(session: &Session, ctx: &mut RequestCtx) -> bool {
    !has_body(session.req_header()) && retry_bodyless(ctx)
}

/// [`retry_on_warm`] for a request known to carry no body.
pub(super) fn retry_bodyless(ctx: &mut RequestCtx) -> bool {
    if ctx.retried {
        return false;
    }
    let (Some(route), Some((failed, _))) = (ctx.route.clone(), ctx.upstream) else { return false };
    match route.backend.pools().retry_member(failed, super::request::roll()) {
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
