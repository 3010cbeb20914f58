//! Route lookup cost, and `current()` while a writer switches routes as fast as it can.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use versiongate::metrics::Metrics;
use versiongate::routes::{normalize_host, MemberRow, ProjectInput, RouteState, RouteTable, Routes, TableOptions};

/// 100 projects, each with one exact and one wildcard domain, and project `p7` live in `slot` on `port`.
fn state(projects: usize, port: u16, slot: &str) -> RouteState {
    let mut state = RouteState::default();
    for i in 0..projects {
        let domains = vec![format!("app{i}.example.com"), format!("*.t{i}.example.com")];
        state.projects.push(ProjectInput { name: format!("p{i}"), domains, ..ProjectInput::default() });
        let (slot, port) = if i == 7 { (slot, port) } else { ("blue", 20000 + i as u16) };
        state.members.push(MemberRow {
            project: format!("p{i}"),
            pool: "active".into(),
            deployment_id: i as i64,
            weight: 1,
            slot: Some(slot.into()),
            target: Some(SocketAddr::from(([127, 0, 0, 1], port)).to_string()),
        });
    }
    state
}

fn build(metrics: &Metrics, state: &RouteState) -> RouteTable {
    RouteTable::from_state(state, &TableOptions::default(), &|name| metrics.project(name)).0
}

fn table(projects: usize) -> Routes {
    let metrics = Metrics::new().unwrap();
    let routes = Routes::new();
    routes.publish(build(&metrics, &state(projects, 20007, "blue")));
    routes
}

fn live(route: &versiongate::routes::ProjectRoute) -> Option<SocketAddr> {
    route.backend.pools().active.members.first().map(|m| m.addr)
}

fn lookup(c: &mut Criterion) {
    let routes = table(100);
    c.bench_function("lookup exact of 100 projects", |b| {
        b.iter(|| routes.current().lookup(black_box("app42.example.com")).map(|r| live(r)))
    });
    c.bench_function("lookup exact of 100 projects, found only", |b| {
        b.iter(|| routes.current().lookup(black_box("app42.example.com")).is_some())
    });
    c.bench_function("lookup wildcard of 100 projects", |b| {
        b.iter(|| routes.current().lookup(black_box("acme.t42.example.com")).map(|r| live(r)))
    });
    c.bench_function("normalize + lookup of a mixed-case host with port", |b| {
        b.iter(|| {
            let host = normalize_host(black_box("App42.Example.com:8080")).unwrap_or_default();
            routes.current().lookup(&host).map(|r| live(r))
        })
    });
}

fn current_while_switching(c: &mut Criterion) {
    for readers in [1usize, 4] {
        let routes = Arc::new(table(100));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (routes, stop) = (routes.clone(), stop.clone());
            std::thread::spawn(move || {
                // Whole tables, built ahead, so the writer publishes as fast as it can.
                let metrics = Metrics::new().unwrap();
                let tables: Vec<_> =
                    (0..2).map(|n| state(100, 30000 + n, if n == 0 { "green" } else { "blue" })).collect();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    routes.publish(build(&metrics, &tables[n % 2]));
                    n = n.wrapping_add(1);
                }
            })
        };
        let background: Vec<_> = (1..readers)
            .map(|_| {
                let (routes, stop) = (routes.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(routes.current().lookup("app7.example.com").map(|r| live(r)));
                    }
                })
            })
            .collect();
        c.bench_function(&format!("current() + lookup with {readers} readers, 1 writer switching"), |b| {
            b.iter(|| routes.current().lookup(black_box("app7.example.com")).map(|r| live(r)))
        });
        stop.store(true, Ordering::Relaxed);
        writer.join().ok();
        background.into_iter().for_each(|t| drop(t.join()));
    }
}

criterion_group!(benches, lookup, current_while_switching);
criterion_main!(benches);
