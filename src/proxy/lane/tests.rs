//! What an idle connection of the lane costs: its task holds the read for the next request and no more
//! (the request's own work and a hand-over are boxed), so 10,000 idle keep-alive connections stay small.

use super::*;
use crate::proxy::GatewayParts;
use crate::routes::Routes;
use crate::tls::{Certs, Challenges};
use crate::upgrade::Retirement;

fn stream() -> Stream {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    Box::new(pingora::protocols::l4::stream::Stream::from(tokio::net::UnixStream::from_std(a).unwrap()))
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_connection_holds_little_state() {
    let (routes, certs, challenges) = (Arc::new(Routes::new()), Arc::new(Certs::new()), Arc::new(Challenges::new()));
    let counter = || IntCounter::new("requests", "test").unwrap();
    let retirement = Arc::new(Retirement::default());
    let parts = GatewayParts { routes, certs, challenges, https_port: None, retirement, pipeline_requests: counter() };
    let gateway = Gateway::new(parts);
    let conf = Arc::new(pingora::server::configuration::ServerConf::default());
    let proxy = Arc::new(HttpProxy::new(gateway.clone(), conf));
    let lane = Lane::new(gateway, proxy, StageCounters { served: counter(), handed_over: counter() });
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let mut client = Client::new(stream(), shutdown.clone());
    let waiting = std::mem::size_of_val(&lane.next(&mut client, &shutdown));
    println!("waiting for a request: {waiting} bytes");
    assert!(waiting <= 512, "the state of a connection waiting for its next request is {waiting} bytes");
    let client = Client::new(stream(), shutdown.clone());
    let handing = std::mem::size_of_val(&lane.hand_over(client, &shutdown));
    assert!(handing > waiting, "boxing the hand-over ({handing} bytes) is what keeps the idle state small");
}
