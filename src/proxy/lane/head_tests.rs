use super::*;

fn head(raw: &str, head_request: bool) -> Result<Option<(Framing, bool)>, AnswerError> {
    parse(raw.as_bytes(), head_request).map(|h| h.map(|h| (h.framing, h.keep_alive)))
}

#[test]
fn framing_follows_rfc_9112_as_pingoras_client_reads_it() {
    let ok = |raw: &str| head(raw, false).unwrap().unwrap();
    assert_eq!(ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), (Framing::Length(5), true));
    assert_eq!(ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n").0, Framing::Chunked);
    assert_eq!(ok("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"), (Framing::UntilClose, false));
    assert_eq!(ok("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"), (Framing::Length(1), false));
    assert!(ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n").1);
    assert_eq!(ok("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n").0, Framing::Empty);
    assert_eq!(ok("HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n").0, Framing::Empty);
    assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).unwrap().unwrap().0, Framing::Empty);
    assert!(head("HTTP/1.1 200 OK\r\nContent-Le", false).unwrap().is_none(), "partial");
    for bad in [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 001 Odd\r\nContent-Length: 0\r\n\r\n",
    ] {
        assert!(head(bad, false).is_err(), "{bad}");
    }
    // Pingora's client checks Content-Length on answers without a body too (found by the `lane` fuzz target).
    assert!(head("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", true).is_err(), "HEAD, bad length");
    assert!(head("HTTP/1.1 304 Not Modified\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false).is_err());
}

/// Transfer-Encoding drops Content-Length whether or not the answer has a body, as in Pingora's client
/// (found by the `lane` fuzz target: a HEAD answer with both kept its Content-Length).
#[test]
fn transfer_encoding_drops_content_length_on_answers_without_a_body() {
    for (raw, head_request) in [
        ("HTTP/1.1 200 OK\r\nContent-Length: &3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", true),
        ("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nX: 1\r\n\r\n", false),
    ] {
        let mut ours = Vec::new();
        parse(raw.as_bytes(), head_request).unwrap().unwrap().downstream(None, true, b"NOW", &mut ours);
        let ours = String::from_utf8(ours).unwrap();
        assert!(!ours.to_ascii_lowercase().contains("content-length"), "{ours}");
        let name = |line: &str| line.split(':').next().unwrap().to_owned();
        let last = name(raw.trim_end().lines().last().unwrap());
        let second = name(ours.lines().nth(1).unwrap());
        assert_eq!(second, last, "the last field takes Content-Length's place, as HeaderMap's swap_remove does");
    }
}

/// The client's head equals what Pingora writes after the same edits on its own response header.
#[test]
fn the_downstream_head_is_pingoras() {
    let raw = "HTTP/1.1 201 Created Here\r\nX-MiXeD: Yes\r\nSet-Cookie: a=1\r\nDate: old\r\nx-lower: 1\r\n\
               Set-Cookie: b=2\r\nConnection: close\r\n\r\n";
    let mut ours = Vec::new();
    parse(raw.as_bytes(), false).unwrap().unwrap().downstream(Some("vg=1"), true, b"NOW", &mut ours);

    let mut theirs = pingora::http::ResponseHeader::build(201, None).unwrap();
    for line in raw.trim_end().lines().skip(1) {
        let (name, value) = line.split_once(": ").unwrap();
        theirs.append_header(name.to_string(), value).unwrap();
    }
    theirs.insert_header(http::header::TRANSFER_ENCODING, "chunked").unwrap();
    theirs.append_header(http::header::SET_COOKIE, "vg=1").unwrap();
    theirs.insert_header(http::header::DATE, "NOW").unwrap();
    theirs.insert_header(http::header::CONNECTION, "keep-alive").unwrap();
    let mut expected = b"HTTP/1.1 201 Created Here\r\n".to_vec();
    theirs.header_to_h1_wire(&mut expected);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(expected).unwrap());

    let mut interim = Vec::new();
    parse(b"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n", false).unwrap().unwrap().downstream(
        None,
        false,
        b"NOW",
        &mut interim,
    );
    assert_eq!(interim, b"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n", "an interim answer passes as it came");
}
