//! Route lookup cost, and `current()` while a writer switches routes as fast as it can.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use versiongate::metrics::ProjectMetrics;
use versiongate::project::Slot;
use versiongate::routes::{normalize_host, ProjectRoute, Routes, Upstream};

fn table(projects: usize) -> Routes {
    let routes = Routes::new();
    for i in 0..projects {
        let domains = vec![format!("app{i}.example.com"), format!("*.t{i}.example.com")];
        routes.put_project(ProjectRoute::new(&format!("p{i}"), domains, Arc::new(ProjectMetrics::detached())));
        let addr = SocketAddr::from(([127, 0, 0, 1], 20000 + i as u16));
        routes.switch(&format!("p{i}"), Upstream { slot: Slot::Blue, addr, deployment_id: i as i64 });
    }
    routes
}

fn lookup(c: &mut Criterion) {
    let routes = table(100);
    c.bench_function("lookup exact of 100 projects", |b| {
        b.iter(|| routes.current().lookup(black_box("app42.example.com")).map(|r| r.live))
    });
    c.bench_function("lookup wildcard of 100 projects", |b| {
        b.iter(|| routes.current().lookup(black_box("acme.t42.example.com")).map(|r| r.live))
    });
    c.bench_function("normalize + lookup of a mixed-case host with port", |b| {
        b.iter(|| {
            let host = normalize_host(black_box("App42.Example.com:8080")).unwrap_or_default();
            routes.current().lookup(&host).map(|r| r.live)
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
                let mut n = 0u16;
                while !stop.load(Ordering::Relaxed) {
                    let slot = if n % 2 == 0 { Slot::Green } else { Slot::Blue };
                    let addr = SocketAddr::from(([127, 0, 0, 1], 30000 + n));
                    routes.switch("p7", Upstream { slot, addr, deployment_id: n.into() });
                    n = n.wrapping_add(1);
                }
            })
        };
        let background: Vec<_> = (1..readers)
            .map(|_| {
                let (routes, stop) = (routes.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(routes.current().lookup("app7.example.com").map(|r| r.live));
                    }
                })
            })
            .collect();
        c.bench_function(&format!("current() + lookup with {readers} readers, 1 writer switching"), |b| {
            b.iter(|| routes.current().lookup(black_box("app7.example.com")).map(|r| r.live))
        });
        stop.store(true, Ordering::Relaxed);
        writer.join().ok();
        background.into_iter().for_each(|t| drop(t.join()));
    }
}

criterion_group!(benches, lookup, current_while_switching);
criterion_main!(benches);
