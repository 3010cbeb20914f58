//! A browser without JavaScript, for dashboard pages: logs in through the login form and keeps the session
//! cookie by hand.

use super::Gateway;
use reqwest::redirect::Policy;
use reqwest::{Client, Response};

/// One visitor: a client that does not follow redirects and keeps the session cookie by hand.
pub struct Visitor {
    pub http: Client,
    pub base: String,
    pub session: Option<String>,
}

impl Visitor {
    pub fn new(gw: &Gateway) -> Visitor {
        let http = super::client_builder().redirect(Policy::none()).build().unwrap();
        Visitor { http, base: gw.admin_url(), session: None }
    }

    pub async fn get(&self, path: &str) -> Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("vg_session={s}"));
        }
        req.send().await.unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(fields));
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("vg_session={s}"));
        }
        req.send().await.unwrap()
    }

    /// Posts a form with this session's CSRF token, read from `page` as a browser would.
    pub async fn submit(&self, page: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.page(page).await;
        let csrf = between(&html, r#"name="csrf" value=""#, "\"");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    pub async fn log_in(&mut self, token: &str) -> Response {
        let form = self.http.get(format!("{}/login", self.base)).send().await.unwrap();
        let nonce_cookie = cookie(&form, "vg_login").expect("the login page sets its nonce cookie");
        let html = form.text().await.unwrap();
        let nonce = between(&html, r#"name="nonce" value=""#, "\"");
        let res = self
            .http
            .post(format!("{}/login", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("vg_login={nonce_cookie}"))
            .body(encode(&[("token", token), ("nonce", &nonce)]))
            .send()
            .await
            .unwrap();
        self.session = cookie(&res, "vg_session").filter(|s| !s.is_empty());
        res
    }
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

pub fn cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next()?.trim().strip_prefix(&format!("{name}=")).map(str::to_owned))
}

pub fn set_cookie_line(res: &Response, name: &str) -> String {
    let lines = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned));
    lines.into_iter().find(|v| v.starts_with(&format!("{name}="))).unwrap_or_default()
}

pub fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap_or_else(|| panic!("`{start}` not in {text}")) + start.len();
    text[from..].split(end).next().unwrap().to_owned()
}
