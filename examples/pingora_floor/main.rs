//! The floor under versiongate's proxy speed: Pingora with none of our code, run by `scripts/bench-proxy`.
//!
//! `pingora_floor <listen> <upstream>` proxies every request to `upstream` with a bare `ProxyHttp` (no
//! filters, no added headers); `pingora_floor <listen> answer` answers every request itself with 10 bytes,
//! so only Pingora's downstream HTTP/1 half runs; `pingora_floor <listen> lean:<upstream>` keeps Pingora's
//! listeners and serves HTTP/1.1 with a minimal loop, client and pool of our own (`lean.rs`). All use
//! versiongate's server settings: one thread, no work stealing, no L4 read buffer, mimalloc.

mod lean;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `None`: answer every request without an upstream.
struct Floor(Option<SocketAddr>);

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) {}

    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if self.0.is_some() {
            return Ok(false);
        }
        let mut answer = ResponseHeader::build(200, Some(2))?;
        answer.insert_header("content-length", "10")?;
        session.write_response_header(Box::new(answer), false).await?;
        session.write_response_body(Some(Bytes::from_static(b"0123456789")), true).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let addr = self.0.ok_or_else(|| Error::explain(ErrorType::InternalError, "no upstream"))?;
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.idle_timeout = Some(Duration::from_secs(5));
        Ok(Box::new(peer))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(target)) = (args.first(), args.get(1)) else {
        eprintln!("usage: pingora_floor <listen addr> <upstream addr | answer | lean:upstream addr>");
        return ExitCode::from(2);
    };
    if let Some(addr) = target.strip_prefix("lean:") {
        return match addr.parse() {
            Ok(addr) => run_lean(listen, addr),
            Err(e) => {
                eprintln!("pingora_floor: the upstream {addr:?} is not an address like 127.0.0.1:8080 ({e})");
                ExitCode::from(2)
            }
        };
    }
    let upstream = match target.as_str() {
        "answer" => None,
        addr => match addr.parse() {
            Ok(addr) => Some(addr),
            Err(e) => {
                eprintln!("pingora_floor: the upstream {addr:?} is not an address like 127.0.0.1:8080 ({e})");
                return ExitCode::from(2);
            }
        },
    };
    let conf = ServerConf { threads: 1, work_stealing: false, ..ServerConf::default() };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, Floor(upstream), "floor");
    proxy.add_listener(versiongate::app::proxy_listener(listen));
    proxy.threads = Some(1);
    server.add_service(proxy);
    server.run_forever()
}

fn run_lean(listen: &str, upstream: SocketAddr) -> ExitCode {
    let conf = ServerConf { threads: 1, work_stealing: false, ..ServerConf::default() };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = pingora::services::listening::Service::new("lean".into(), lean::Lean(upstream));
    service.add_listener(versiongate::app::proxy_listener(listen));
    service.threads = Some(1);
    server.add_service(service);
    server.run_forever()
}
