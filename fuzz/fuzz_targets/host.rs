//! Host normalisation and route lookup: any Host header, never a panic; normalising is idempotent, and
//! a lookup only ever finds a project whose domain matches the normalised host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use versiongate::metrics::Metrics;
use versiongate::routes::{normalize_host, ProjectInput, RouteState, RouteTable, TableOptions};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Some(host) = normalize_host(&raw) else { return };
    let host = host.into_owned();
    assert_eq!(normalize_host(&host).as_deref(), Some(host.as_str()), "normalising twice changes nothing");
    let metrics = Metrics::new().unwrap();
    let project = |name: &str, domains: &[&str]| ProjectInput {
        name: name.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        ..ProjectInput::default()
    };
    let state = RouteState {
        projects: vec![project("exact", &["app.example.com", "[::1]"]), project("wild", &["*.example.com"])],
        ..RouteState::default()
    };
    let (table, _) = RouteTable::from_state(&state, &TableOptions::default(), &|name| metrics.project(name));
    if let Some(found) = table.lookup(&host) {
        let ok = found.domains.iter().any(|d| match d.strip_prefix("*.") {
            Some(parent) => host.strip_suffix(parent).is_some_and(|label| label.ends_with('.') && label.len() > 1),
            None => *d == host,
        });
        assert!(ok, "{host} matched {} by none of its domains", found.name);
    }
});
