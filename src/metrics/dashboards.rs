//! The Grafana dashboards in `config/grafana/` query only metrics this module's registry exports (test only).

use super::Metrics;
use crate::project::Slot;
use serde_json::Value;
use std::time::Duration;

/// A registry where every family has at least one series, so the scrape names them all.
fn every_family() -> String {
    let m = Metrics::new().unwrap();
    let p = m.project("app");
    p.inflight(Slot::Green).inc();
    p.observe(Slot::Green, 503, Duration::from_millis(3));
    p.held.inc();
    let _ = p.replica(Slot::Green, 1);
    m.set_live_slot("app", Some(Slot::Green));
    m.deployment_ended("app", "ACTIVE", Some(Duration::from_secs(2)));
    m.set_traffic("app", "serving");
    m.set_certificates([("a.example", "acme", "valid", Some(1_900_000_000_000))].into_iter());
    m.acme_order("issued");
    m.render()
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

fn metric_names(expr: &str) -> Vec<&str> {
    let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("versiongate_") {
        let tail = &rest[at..];
        let end = tail.find(|c| !is_name(c)).unwrap_or(tail.len());
        names.push(&tail[..end]);
        rest = &tail[end..];
    }
    names
}

fn balanced(expr: &str) -> bool {
    let mut stack = Vec::new();
    for c in expr.chars() {
        match c {
            '(' | '{' | '[' => stack.push(c),
            ')' | '}' | ']' => {
                let open = stack.pop();
                if open
                    != Some(match c {
                        ')' => '(',
                        '}' => '{',
                        _ => '[',
                    })
                {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty()
}

#[test]
fn every_grafana_query_names_an_exported_metric() {
    let scrape = every_family();
    let exported =
        |name: &str| scrape.lines().any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config/grafana");
    let mut seen = std::collections::BTreeSet::new();
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty(), "no dashboards in {dir}");
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let text = std::fs::read_to_string(path).unwrap();
        let dashboard: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(dashboard["uid"].is_string() && dashboard["title"].is_string(), "{}", path.display());
        for panel in dashboard["panels"].as_array().unwrap() {
            let targets = panel["targets"].as_array().map_or(0, Vec::len);
            assert!(targets > 0, "panel {} of {} has no query", panel["title"], path.display());
        }
        let mut found = Vec::new();
        exprs(&dashboard, &mut found);
        for expr in &found {
            assert!(balanced(expr), "unbalanced brackets in {expr}");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} queries no versiongate metric");
            for name in names {
                assert!(exported(name), "{} queries `{name}`, which versiongate does not export", path.display());
                seen.insert(
                    name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count").to_owned(),
                );
            }
        }
    }
    for wanted in [
        "versiongate_http_requests_total",
        "versiongate_http_request_duration_seconds",
        "versiongate_upstream_inflight",
        "versiongate_deployments_total",
        "versiongate_deploy_duration_seconds",
        "versiongate_live_slot",
        "versiongate_certificate_expiry_timestamp_seconds",
    ] {
        assert!(seen.contains(wanted), "no dashboard shows {wanted}");
    }
}

#[test]
fn the_name_scan_and_the_bracket_check_work() {
    assert_eq!(
        metric_names("rate(versiongate_a_total{x=\"1\"}[1m]) / versiongate_b"),
        ["versiongate_a_total", "versiongate_b"]
    );
    assert!(balanced("sum(rate(a{b=\"c\"}[1m]))"));
    assert!(!balanced("sum(rate(a[1m])"));
}
