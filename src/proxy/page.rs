//! The gateway's own answers, written straight to the client: small HTML pages (404, 503, 502, 431), the
//! https redirect and ACME's HTTP-01 key authorization.

use crate::routes::Decision;
use bytes::Bytes;
use http::header;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// A page the gateway answers with instead of proxying.
pub(super) struct Page {
    status: u16,
    title: &'static str,
    detail: String,
    /// Seconds for `Retry-After`, on pages that say to come back.
    retry_after: Option<u32>,
}

impl Page {
    /// The page for a decision that does not proxy. `host` is what the client asked for (escaped here).
    pub(super) fn for_decision(decision: &Decision<'_>, host: &str) -> Page {
        let page = |status, title, detail| Page { status, title, detail, retry_after: None };
        match decision {
            Decision::NoLive(route) => page(
                503,
                "No live deployment",
                format!(
                    "Project <code>{}</code> has no live deployment yet. Deploy it, then retry.",
                    escape(&route.name)
                ),
            ),
            Decision::Paused(route) => Page {
                retry_after: Some(5),
                ..page(503, "Paused", format!("Project <code>{}</code> is paused. Retry shortly.", escape(&route.name)))
            },
            Decision::Maintenance(route, message) => {
                let message = if message.is_empty() { "Down for maintenance." } else { message };
                let detail = format!("<code>{}</code>: {}", escape(&route.name), escape(message));
                Page { retry_after: Some(60), ..page(503, "Under maintenance", detail) }
            }
            Decision::AdminHidden => page(
                404,
                "Not found",
                "This path of the admin server is only reachable on its own listener, not through the public host."
                    .into(),
            ),
            Decision::UnknownHost | Decision::Admin(_) | Decision::Proxy(_) | Decision::Redirect => page(
                404,
                "Unknown host",
                format!(
                    "No project on this gateway serves the host <code>{}</code>. Add it to a project's domains.",
                    escape(host)
                ),
            ),
        }
    }

    pub(super) async fn write(&self, session: &mut Session) -> Result<()> {
        write_page_with(session, self.status, self.title, &self.detail, self.retry_after).await
    }
}

pub(super) async fn write_page(session: &mut Session, status: u16, title: &str, detail: &str) -> Result<()> {
    write_page_with(session, status, title, detail, None).await
}

async fn write_page_with(
    session: &mut Session,
    status: u16,
    title: &str,
    detail: &str,
    retry_after: Option<u32>,
) -> Result<()> {
    let body = Bytes::from(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{status} {title}</h1><p>{detail}</p>\
         <hr><small>versiongate</small></body></html>\n"
    ));
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(header::CONTENT_TYPE, "text/html; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    if let Some(seconds) = retry_after {
        resp.insert_header(header::RETRY_AFTER, seconds.to_string())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await
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
    }

    #[test]
    fn redirects_keep_path_and_query_and_name_a_non_default_port() {
        assert_eq!(https_location("a.test", 443, "/x?y=1"), "https://a.test/x?y=1");
        assert_eq!(https_location("a.test", 8443, "/"), "https://a.test:8443/");
    }
}
