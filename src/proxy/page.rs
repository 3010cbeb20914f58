//! The gateway's own answers, written straight to the client: small HTML (or JSON) pages (404, 503, 502,
//! 431), the https redirect and ACME's HTTP-01 key authorization.

use crate::routes::Decision;
use bytes::Bytes;
use http::header;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// A page the gateway answers with instead of proxying. `message` is plain text; a span in backticks is a
/// name the client sent or a project's, shown as code in HTML.
pub(super) struct Page {
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

    /// A paused project's 503: the hold timed out, or its queue is full.
    pub(super) fn paused(project: &str, why: &str) -> Page {
        let text = format!("Project `{project}` is paused. {why}");
        Page { retry_after: Some(5), ..Page::new(503, "Paused", "paused", text) }
    }

    /// Written as JSON when the client asks for JSON rather than HTML (`Accept`), else as a small HTML page.
    pub(super) async fn write(&self, session: &mut Session) -> Result<()> {
        let accept = session.req_header().headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let (resp, body) = self.render(wants_json(accept.unwrap_or_default()))?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(Bytes::from(body)), true).await
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

/// `308 Permanent Redirect` (the method and body are kept, unlike 301) to `location`.
pub(super) async fn write_redirect(session: &mut Session, location: &str) -> Result<()> {
    let mut resp = ResponseHeader::build(308, Some(3))?;
    resp.insert_header(header::LOCATION, location)?;
    resp.insert_header(header::CONTENT_LENGTH, "0")?;
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    session.write_response_header(Box::new(resp), true).await
}

/// A `200 text/plain` answer: ACME's HTTP-01 key authorization.
pub(super) async fn write_text(session: &mut Session, text: String) -> Result<()> {
    let mut resp = ResponseHeader::build(200, Some(3))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain")?;
    resp.insert_header(header::CONTENT_LENGTH, text.len().to_string())?;
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(Bytes::from(text)), true).await
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
