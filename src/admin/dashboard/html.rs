//! HTML building blocks for the dashboard: escaping, the page frame, status words, relative times.
//!
//! Pure: every function takes the values it shows (and `now`), so pages render the same in tests.

use super::session::Notice;
use crate::deployment::Status;
use std::fmt::Write;

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the frame around every page needs.
pub(crate) struct Frame<'a> {
    pub(crate) title: &'a str,
    /// The session's CSRF token; `None` on the login page (no logout button).
    pub(crate) csrf: Option<&'a str>,
    pub(crate) notice: Option<Notice>,
}

pub(crate) fn page(frame: Frame<'_>, body: &str) -> String {
    let logout = frame.csrf.map_or(String::new(), |csrf| {
        format!(
            r#"<form method="post" action="/logout" class="inline">{}<button class="link" type="submit">Log out</button></form>"#,
            csrf_field(csrf)
        )
    });
    let notice = frame.notice.map_or(String::new(), |n| {
        let (class, role) = if n.ok { ("notice ok", "status") } else { ("notice error", "alert") };
        format!(r#"<p class="{class}" role="{role}" id="notice">{}</p>"#, esc(&n.text))
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · versiongate</title><link rel="stylesheet" href="/assets/style.css"><script src="/assets/app.js" defer></script></head>
<body><header class="top"><a class="brand" href="/">versiongate</a><nav>{logout}</nav></header>
<main>{notice}{body}</main>
<footer class="foot"><a id="api-reference" href="/api/v1/openapi.json">API reference (OpenAPI 3.1)</a> · <a href="/metrics">Prometheus metrics</a></footer></body></html>"#,
        title = esc(frame.title)
    )
}

pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// A status is always a word, coloured by its class.
pub(crate) fn status(status: Status) -> String {
    let word = status.as_str();
    format!(r#"<span class="status status-{}">{word}</span>"#, word.to_ascii_lowercase())
}

/// "3 min ago" with the exact UTC time on hover.
pub(crate) fn ago(at_ms: i64, now_ms: i64) -> String {
    let exact = super::super::views::time(at_ms);
    format!(r#"<time datetime="{exact}" title="{exact}">{}</time>"#, relative(now_ms - at_ms))
}

pub(crate) fn relative(elapsed_ms: i64) -> String {
    let s = elapsed_ms.max(0) / 1000;
    match s {
        0..=4 => "just now".into(),
        5..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A duration for people: "850 ms", "12.3 s", "4 min 05 s".
pub(crate) fn duration(ms: i64) -> String {
    match ms.max(0) {
        ms @ 0..=999 => format!("{ms} ms"),
        ms @ 1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60),
    }
}

pub(crate) fn short_sha(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// A form with one button that posts to `action`.
pub(crate) fn button_form(action: &str, csrf: &str, label: &str, class: &str, hidden: &[(&str, &str)]) -> String {
    let mut fields = csrf_field(csrf);
    for (name, value) in hidden {
        let _ = write!(fields, r#"<input type="hidden" name="{}" value="{}">"#, esc(name), esc(value));
    }
    format!(
        r#"<form method="post" action="{}" class="inline">{fields}<button type="submit" class="{class}">{}</button></form>"#,
        esc(action),
        esc(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn times_and_durations_read_naturally() {
        assert_eq!(relative(1200), "just now");
        assert_eq!(relative(42_000), "42 s ago");
        assert_eq!(relative(3 * 60_000 + 5000), "3 min ago");
        assert_eq!(relative(5 * 3_600_000), "5 h ago");
        assert_eq!(relative(3 * 86_400_000), "3 days ago");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_340), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert!(ago(0, 60_000).contains(r#"title="1970-01-01T00:00:00.000Z""#));
    }

    #[test]
    fn a_status_is_a_word_with_a_colour_class() {
        assert_eq!(status(Status::RolledBack), r#"<span class="status status-rolled_back">ROLLED_BACK</span>"#);
        assert_eq!(short_sha("9fceb02d0ae598e95dc970b74767f19372d61af8"), "9fceb02");
        assert_eq!(short_sha("abc"), "abc");
    }
}
