//! A project's last hour of traffic as server-rendered SVG: requests/s, 5xx/s and p99 latency, with each
//! deployment, switch, rollback and failure marked on the time axis (pure).

use crate::deployment::{Status, Trigger};
use crate::metrics::history::Sample;
use crate::store::{Deployment, DeploymentEvent};
use std::fmt::Write;

const HOUR_MS: i64 = 3_600_000;
/// A fresh gateway's chart spans at least this much, so a few minutes of data are not a sliver at the edge.
const MIN_SPAN_MS: i64 = 120_000;
const WIDTH: f64 = 720.0;
const LEFT: f64 = 64.0;
const PANEL: f64 = 70.0;
const GAP: f64 = 18.0;

/// What one panel plots of a sample.
type Value = fn(&Sample) -> Option<f64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerKind {
    Deploy,
    Switch,
    Rollback,
    Failed,
}

impl MarkerKind {
    fn word(self) -> &'static str {
        match self {
            MarkerKind::Deploy => "deploy",
            MarkerKind::Switch => "switch",
            MarkerKind::Rollback => "rollback",
            MarkerKind::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub(crate) at: i64,
    pub(crate) kind: MarkerKind,
    pub(crate) deployment: i64,
}

/// What happened to the project's deployments since `since`: a start, the switch to it, a rollback, a failure.
pub(crate) fn markers(history: &[(Deployment, Vec<DeploymentEvent>)], since: i64) -> Vec<Marker> {
    let mut out = Vec::new();
    for (d, events) in history {
        let rollback = matches!(d.trigger, Trigger::Rollback | Trigger::AutoRollback);
        let start = if rollback { MarkerKind::Rollback } else { MarkerKind::Deploy };
        out.push(Marker { at: d.created_at, kind: start, deployment: d.id });
        for e in events {
            let kind = match e.status {
                Status::Active if !rollback => MarkerKind::Switch,
                Status::RolledBack => MarkerKind::Rollback,
                Status::Failed => MarkerKind::Failed,
                _ => continue,
            };
            out.push(Marker { at: e.at, kind, deployment: d.id });
        }
    }
    out.retain(|m| m.at >= since);
    out.sort_by_key(|m| (m.at, m.deployment));
    out.dedup_by(|a, b| a.kind == b.kind && a.deployment == b.deployment);
    out
}

/// The three panels up to `now`: over the last hour, or since the oldest sample or marker when that is
/// more recent (at least two minutes).
pub(crate) fn render(samples: &[Sample], markers: &[Marker], now: i64) -> String {
    let oldest = samples.iter().map(|s| s.at).chain(markers.iter().map(|m| m.at)).min().unwrap_or(now);
    let span = (now - oldest).clamp(MIN_SPAN_MS, HOUR_MS);
    let height = 3.0 * (PANEL + GAP) + 14.0;
    let mut svg = format!(
        r#"<svg class="traffic-chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" aria-label="Requests, 5xx and p99 latency over the last hour, with deployments marked">"#
    );
    let x = |at: i64| LEFT + (WIDTH - LEFT - 8.0) * ((at - (now - span)) as f64 / span as f64).clamp(0.0, 1.0);
    let series: [(&str, &str, Value); 3] = [
        ("requests/s", "rate", |s| Some(s.rate())),
        ("5xx/s", "errors", |s| Some(s.error_rate())),
        ("p99 ms", "p99", |s| s.p99_ms),
    ];
    for (i, (label, class, value)) in series.iter().enumerate() {
        let top = 4.0 + i as f64 * (PANEL + GAP);
        let points: Vec<(f64, f64)> = samples.iter().filter_map(|s| Some((x(s.at), value(s)?))).collect();
        panel(&mut svg, top, label, class, &points);
    }
    let bottom = 4.0 + 3.0 * (PANEL + GAP) - GAP;
    for m in markers {
        let px = x(m.at);
        let _ = write!(
            svg,
            r#"<g class="marker marker-{kind}" data-deployment="{id}"><title>{kind} #{id}</title><line x1="{px:.1}" y1="4" x2="{px:.1}" y2="{bottom:.1}"/><text x="{px:.1}" y="{ty:.1}">{letter}</text></g>"#,
            kind = m.kind.word(),
            id = m.deployment,
            ty = bottom + 12.0,
            letter = &m.kind.word()[..1].to_uppercase(),
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="{LEFT}" y="{y:.1}">-{minutes} min</text><text class="axis" x="{end:.1}" y="{y:.1}" text-anchor="end">now</text></svg>"#,
        y = height - 2.0,
        end = WIDTH - 8.0,
        minutes = (span + 30_000) / 60_000,
    );
    svg
}

fn panel(svg: &mut String, top: f64, label: &str, class: &str, points: &[(f64, f64)]) {
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { nice(max) } else { 1.0 };
    let _ = write!(
        svg,
        r#"<g class="panel panel-{class}"><rect x="{LEFT}" y="{top:.1}" width="{w:.1}" height="{PANEL}"/><text class="label" x="{lx:.1}" y="{ly:.1}">{label}</text><text class="axis" x="{ax:.1}" y="{ty:.1}" text-anchor="end">{scale}</text>"#,
        w = WIDTH - LEFT - 8.0,
        lx = LEFT + 6.0,
        ly = top + 14.0,
        ax = LEFT - 4.0,
        ty = top + 10.0,
        scale = short(scale),
    );
    if !points.is_empty() {
        let path: Vec<String> =
            points.iter().map(|(x, v)| format!("{x:.1},{:.1}", top + PANEL - PANEL * (v / scale).min(1.0))).collect();
        let _ = write!(svg, r#"<polyline class="line" points="{}"/>"#, path.join(" "));
    }
    svg.push_str("</g>");
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `v`, so the axis reads well.
fn nice(v: f64) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|c| *c >= v).unwrap_or(v)
}

fn short(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", v / 1000.0)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
