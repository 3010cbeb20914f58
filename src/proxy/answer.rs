//! The gateway's own answers, rendered in one place for every request path: small HTML (or JSON) pages
//! (404, 503, 502, 431, 400), the https redirect and ACME's HTTP-01 key authorization. A path only chooses
//! how the bytes go out: through Pingora's session ([`Answer::write`], the pipeline) or as HTTP/1.1 wire
//! bytes ([`Answer::wire`], the lane), with the same head and body either way.

use crate::routes::{Decision, ProjectRoute};
use bytes::Bytes;
use http::header;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// What the gateway answers itself instead of proxying. A new kind of gateway answer (a policy's 401, 403
/// or 429, a static file) is a variant here, rendered once, never a branch in each path.
pub(crate) enum Answer {
    Page(Page),
    /// `308 Permanent Redirect` (the method and body are kept, unlike 301) to this location.
    Redirect(String),
    /// `200 text/plain`: ACME's HTTP-01 key authorization.
    Text(String),
}

impl Answer {
    /// The answer's header and body; `json` when the client asked for JSON rather than HTML.
    pub(super) fn render(&self, json: bool) -> Result<(ResponseHeader, Bytes)> {
        match self {
            Answer::Page(page) => page.render(json).map(|(resp, body)| (resp, Bytes::from(body))),
            Answer::Redirect(location) => {
                let mut resp = ResponseHeader::build(308, Some(3))?;
                resp.insert_header(header::LOCATION, location.as_str())?;
                resp.insert_header(header::CONTENT_LENGTH, "0")?;
                resp.insert_header(header::CACHE_CONTROL, "no-store")?;
                Ok((resp, Bytes::new()))
            }
            Answer::Text(text) => {
                let mut resp = ResponseHeader::build(200, Some(3))?;
                resp.insert_header(header::CONTENT_TYPE, "text/plain")?;
                resp.insert_header(header::CONTENT_LENGTH, text.len().to_string())?;
                Ok((resp, Bytes::from(text.clone())))
            }
        }
    }

    /// Written through Pingora's session (the pipeline), which adds `Date` and `Connection` as it does to
    /// every answer and leaves the body out for HEAD.
    pub(super) async fn write(&self, session: &mut Session) -> Result<()> {
        let accept = session.req_header().headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let (resp, body) = self.render(wants_json(accept.unwrap_or_default()))?;
        let empty = body.is_empty();
        session.write_response_header(Box::new(resp), empty).await?;
        if !empty {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    /// The HTTP/1.1 bytes of the answer (the lane's): the head Pingora's session writes for the same answer
    /// — the rendered fields, then `Date` and `Connection` — and the body unless the request was HEAD.
    pub(super) fn wire(&self, json: bool, head_request: bool, keep_alive: bool) -> Result<Vec<u8>> {
        let (mut resp, body) = self.render(json)?;
        resp.insert_header(header::DATE, pingora::protocols::http::date::get_cached_date())?;
        resp.insert_header(header::CONNECTION, if keep_alive { "keep-alive" } else { "close" })?;
        let reason = resp.status.canonical_reason().unwrap_or("");
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", resp.status.as_u16()).as_bytes());
        resp.header_to_h1_wire(&mut out);
        out.extend_from_slice(b"\r\n");
        if !head_request {
            out.extend_from_slice(&body);
        }
        Ok(out)
    }
}

/// A page the gateway answers with instead of proxying. `message` is plain text; a span in backticks is a
/// name the client sent or a project's, shown as code in HTML.
pub(crate) struct Page {
    pub(super) status: u16,
    pub(super) title: &'static str,
    /// The JSON answer's `code`.
    pub(super) code: &'static str,
    pub(super) message: String,
    /// Seconds for `Retry-After`, on pages that say to come back.
    pub(super) retry_after: Option<u32>,
}

impl Page {
    pub(super) fn new(status: u16, title: &'static str, code: &'static str, message: String) -> Page {
        Page { status, title, code, message, retry_after: None }
    }

    /// The page for a decision that does not proxy. `host` is what the client asked for.
    pub(super) fn for_decision(decision: &Decision<'_>, host: &str) -> Page {
        match decision {
            Decision::NoLive(route) => Page::new(
                503,
                "No live deployment",
                "no_live_deployment",
                format!("Project `{}` has no live deployment yet. Deploy it, then retry.", route.name),
            ),
            Decision::Paused(route, _) => Page::paused(&route.name, "Retry shortly."),
            Decision::Maintenance(route, message) => {
                let message = if message.is_empty() { "Down for maintenance." } else { message };
                let text = format!("`{}`: {}", route.name, message.replace('`', "'"));
                Page { retry_after: Some(60), ..Page::new(503, "Under maintenance", "maintenance", text) }
            }
            Decision::AdminHidden => Page::new(
                404,
                "Not found",
                "not_found",
                "This path of the admin server is only reachable on its own listener, not through the public host."
                    .into(),
            ),
            Decision::UnknownHost | Decision::Admin(_) | Decision::Proxy(_) | Decision::Redirect => Page::new(
                404,
                "Unknown host",
                "unknown_host",
                format!(
                    "No project on this gateway serves the host `{}`. Add it to a project's domains.",
                    host.replace('`', "'")
                ),
            ),
        }
    }

    /// The answer when the live deployment could not be reached (502), or to an HTTP error status Pingora
    /// raised while proxying.
    pub(super) fn unreachable(status: u16, route: Option<&ProjectRoute>) -> Page {
        let name = route.map(|r| r.name.replace('`', "'")).unwrap_or_default();
        let detail = format!("The live deployment of `{name}` could not be reached. Check that it is running.");
        Page::new(status, "Bad gateway", "bad_gateway", detail)
    }

    /// A paused project's 503: the hold timed out, or its queue is full.
    pub(super) fn paused(project: &str, why: &str) -> Page {
        let text = format!("Project `{project}` is paused. {why}");
        Page { retry_after: Some(5), ..Page::new(503, "Paused", "paused", text) }
    }

    /// The answer's header and body, JSON or HTML.
    pub(super) fn render(&self, json: bool) -> Result<(ResponseHeader, String)> {
        let (content_type, body) = if json {
            let json = serde_json::json!({"error": {"code": self.code, "message": self.message.replace('`', "")}});
            ("application/json", format!("{json}\n"))
        } else {
            ("text/html; charset=utf-8", self.html())
        };
        let mut resp = ResponseHeader::build(self.status, Some(4))?;
        resp.insert_header(header::CONTENT_TYPE, content_type)?;
        resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
        resp.insert_header(header::CACHE_CONTROL, "no-store")?;
        if let Some(seconds) = self.retry_after {
            resp.insert_header(header::RETRY_AFTER, seconds.to_string())?;
        }
        Ok((resp, body))
    }

    fn html(&self) -> String {
        let (status, title) = (self.status, self.title);
        let detail = with_code_spans(&escape(&self.message));
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {title}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{status} {title}</h1><p>{detail}</p>\
             <hr><small>versiongate</small></body></html>\n"
        )
    }
}

/// JSON when `application/json` is named and HTML is not: a browser's `Accept` always names `text/html`.
pub(super) fn wants_json(accept: &str) -> bool {
    accept.contains("application/json") && !accept.contains("text/html")
}

/// `a` in backticks becomes `<code>a</code>` (the text is escaped already).
fn with_code_spans(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len() + 16);
    for (i, part) in escaped.split('`').enumerate() {
        match i % 2 {
            1 => out.push_str(&format!("<code>{part}</code>")),
            _ => out.push_str(part),
        }
    }
    out
}

/// Where a plain-HTTP request moves to: the same host, path and query on https (with the listener's port
/// when it is not 443).
pub(super) fn https_location(host: &str, https_port: u16, path_and_query: &str) -> String {
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
    format!("https://{host}{port}{path_and_query}")
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_escape_what_the_client_sent() {
        assert_eq!(escape("<script>&\""), "&lt;script&gt;&amp;&quot;");
        let page = Page::paused("a<b>", "Retry.");
        assert!(page.html().contains("Project <code>a&lt;b&gt;</code> is paused. Retry."), "{}", page.html());
    }

    #[test]
    fn json_is_for_clients_that_ask_for_it_and_not_for_html() {
        assert!(wants_json("application/json"));
        assert!(!wants_json("text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8"));
        assert!(!wants_json("*/*"));
        assert!(!wants_json(""));
    }

    #[test]
    fn redirects_keep_path_and_query_and_name_a_non_default_port() {
        assert_eq!(https_location("a.test", 443, "/x?y=1"), "https://a.test/x?y=1");
        assert_eq!(https_location("a.test", 8443, "/"), "https://a.test:8443/");
    }
}
