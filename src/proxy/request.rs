//! What a request asks for: the host it names (pure).

use crate::routes::normalize_host;
use http::header;
use pingora::http::RequestHeader;

/// The host the client asked for: the URI authority (HTTP/2) first, then the Host header.
pub(super) fn request_host(req: &RequestHeader) -> Option<String> {
    let raw = match req.uri.authority() {
        Some(authority) => authority.as_str(),
        None => req.headers.get(header::HOST)?.to_str().ok()?,
    };
    normalize_host(raw).map(|h| h.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, host: Option<&str>) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        r.set_uri(uri.parse().unwrap());
        if let Some(h) = host {
            r.insert_header("host", h).unwrap();
        }
        r
    }

    #[test]
    fn host_comes_from_the_authority_then_the_header() {
        assert_eq!(
            request_host(&req("http://H2.Example.com:8443/x", Some("other.test"))).as_deref(),
            Some("h2.example.com")
        );
        assert_eq!(request_host(&req("/x", Some("App.Test:8080"))).as_deref(), Some("app.test"));
        assert_eq!(request_host(&req("/x", None)), None);
    }
}
