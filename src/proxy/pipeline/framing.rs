//! Request framing the proxy will not pass on (pure): the length of a body must have exactly one reading,
//! or a front end and an app could disagree on where the next request starts (request smuggling).

use pingora::http::RequestHeader;

/// Why a request's body length is ambiguous, if it is; such a request gets 400 and its connection closes.
pub(crate) fn ambiguous(req: &RequestHeader) -> Option<&'static str> {
    let mut lengths = req.headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = lengths.next();
    if lengths.next().is_some() {
        return Some("the request has more than one Content-Length header; send exactly one");
    }
    if first.is_some_and(|v| v.is_empty() || !v.as_bytes().iter().all(u8::is_ascii_digit)) {
        return Some("the request's Content-Length is not a plain number of bytes");
    }
    if first.is_some() && req.headers.contains_key(http::header::TRANSFER_ENCODING) {
        return Some("the request has both Content-Length and Transfer-Encoding; send one of them");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).unwrap();
        }
        req
    }

    #[test]
    fn one_plain_length_or_chunked_passes_anything_else_is_ambiguous() {
        assert_eq!(ambiguous(&request(&[("content-length", "12")])), None);
        assert_eq!(ambiguous(&request(&[("transfer-encoding", "chunked")])), None);
        assert_eq!(ambiguous(&request(&[])), None);
        for bad in [
            vec![("content-length", "4"), ("content-length", "4")],
            vec![("content-length", "4, 4")],
            vec![("content-length", "+4")],
            vec![("content-length", "")],
            vec![("content-length", "4"), ("transfer-encoding", "chunked")],
        ] {
            assert!(ambiguous(&request(&bad)).is_some(), "{bad:?}");
        }
    }
}
