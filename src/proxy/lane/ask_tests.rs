use super::*;
use pingora::http::RequestHeader;

fn parsed(raw: &str) -> Option<(usize, String, bool)> {
    let mut storage = storage();
    match parse(raw.as_bytes(), &mut storage) {
        Parsed::Take(ask) => Some((ask.len, ask.host.to_owned(), ask.close)),
        Parsed::Partial => Some((0, String::new(), false)),
        Parsed::HandOver => None,
    }
}

#[test]
fn the_common_request_is_taken_and_anything_else_handed_over() {
    let get = |extra: &str| format!("GET /a?b=1 HTTP/1.1\r\nHost: app.test\r\n{extra}\r\n");
    assert_eq!(parsed(&get("")), Some((get("").len(), "app.test".into(), false)));
    assert_eq!(parsed(&get("Connection: Keep-Alive, close\r\n")).map(|p| p.2), Some(true));
    assert_eq!(parsed("GET / HTTP/1.1\r\nHost: a").map(|p| p.0), Some(0), "partial");
    assert!(parsed("DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").is_some());
    for (what, raw) in [
        ("HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n".to_string()),
        ("POST", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n".into()),
        ("lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n".into()),
        ("no Host", "GET / HTTP/1.1\r\n\r\n".into()),
        ("two Host", get("Host: b\r\n")),
        ("a body", get("Content-Length: 3\r\n")),
        ("two lengths", get("Content-Length: 0\r\nContent-Length: 0\r\n")),
        ("chunked", get("Transfer-Encoding: chunked\r\n")),
        ("an upgrade", get("Connection: Upgrade\r\nUpgrade: websocket\r\n")),
        ("a nominated field", get("Connection: x-private\r\n")),
        ("Expect", get("Expect: 100-continue\r\n")),
        ("TE", get("TE: trailers\r\n")),
        ("absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n".into()),
        ("asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n".into()),
        ("odd target bytes", "GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n".into()),
        ("user info in Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n".into()),
        ("an ACME challenge", "GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: a\r\n\r\n".into()),
        ("a control byte", get("X-A: a\x01b\r\n")),
        ("malformed", "GET / HTTP/1.1\r\nHost a\r\n\r\n".into()),
        ("too big", format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(MAX_HEAD))),
        ("too many fields", get(&"X: 1\r\n".repeat(MAX_FIELDS))),
    ] {
        assert_eq!(parsed(&raw), None, "{what}");
    }
}

/// The head sent upstream equals what Pingora's serialiser writes after the same edits on its own header.
#[test]
fn the_upstream_head_is_pingoras() {
    let raw =
        "GET /q?a=1 HTTP/1.1\r\nHost: App.Test\r\nx-B: 2\r\nConnection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\n\
               x-b: 3\r\nCookie: s=1\r\n\r\n";
    let mut storage = storage();
    let Parsed::Take(ask) = parse(raw.as_bytes(), &mut storage) else { panic!("not taken") };
    assert_eq!(ask.cookie, Some("s=1"));
    let ours = upstream_head(*ask, Some("127.0.0.1"), "app.test", false, "ID");

    let mut req = RequestHeader::build("GET", b"/q?a=1", None).unwrap();
    for line in raw.trim_end().lines().skip(1) {
        let (name, value) = line.split_once(": ").unwrap();
        req.append_header(name.to_string(), value).unwrap();
    }
    req.remove_header(&http::header::CONNECTION);
    req.insert_header("x-forwarded-for", "1.2.3.4, 127.0.0.1").unwrap();
    req.insert_header("x-forwarded-proto", "http").unwrap();
    req.insert_header("x-forwarded-host", "app.test").unwrap();
    req.insert_header("x-request-id", "ID").unwrap();
    let theirs = pingora::protocols::http::v1::client::http_req_header_to_wire(&req).unwrap();
    assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs.to_vec()).unwrap());
}
