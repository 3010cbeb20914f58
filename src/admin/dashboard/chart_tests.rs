use super::*;
use crate::deployment::Phase;
use crate::store::Deployment;

const NOW: i64 = 10 * HOUR_MS;

fn event(status: Status, at: i64) -> DeploymentEvent {
    DeploymentEvent { status, phase: Phase::Done, message: String::new(), at }
}

fn deployment(id: i64, trigger: Trigger, created_at: i64) -> Deployment {
    Deployment { trigger, created_at, ..Deployment::sample(id, Status::Active) }
}

#[test]
fn deploys_switches_rollbacks_and_failures_are_marked_within_the_hour() {
    let history = vec![
        (deployment(3, Trigger::AutoRollback, NOW - 60_000), vec![event(Status::Active, NOW - 55_000)]),
        (
            deployment(2, Trigger::Webhook, NOW - 300_000),
            vec![event(Status::Active, NOW - 240_000), event(Status::RolledBack, NOW - 60_000)],
        ),
        (deployment(1, Trigger::Api, NOW - 2 * HOUR_MS), vec![event(Status::Failed, NOW - 2 * HOUR_MS + 5)]),
    ];
    let marks = markers(&history, NOW - HOUR_MS);
    let got: Vec<_> = marks.iter().map(|m| (m.deployment, m.kind)).collect();
    assert_eq!(
        got,
        [(2, MarkerKind::Deploy), (2, MarkerKind::Switch), (2, MarkerKind::Rollback), (3, MarkerKind::Rollback)],
        "deployment 1 is older than the hour; a rollback's own activation is not a second marker"
    );
}

#[test]
fn the_svg_has_three_panels_lines_and_the_markers() {
    let samples: Vec<Sample> = (0..6)
        .map(|i| Sample {
            at: NOW - 60_000 + i * 10_000,
            seconds: 10.0,
            requests: 100 * i as u64,
            errors: u64::from(i == 3),
            p99_ms: Some(4.0),
        })
        .collect();
    let marks = [Marker { at: NOW - 30_000, kind: MarkerKind::Switch, deployment: 7 }];
    let svg = render(&samples, &marks, NOW);
    assert!(svg.starts_with("<svg class=\"traffic-chart\"") && svg.ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
    assert!(svg.contains(r#"class="marker marker-switch" data-deployment="7""#));
    assert!(svg.contains(">50<"), "requests/s peaks at 50, so the axis reads 50: {svg}");
    assert!(svg.contains(">-2 min<"), "a minute of data spans the minimum two minutes: {svg}");
    let old = [Marker { at: NOW - 2 * HOUR_MS, kind: MarkerKind::Deploy, deployment: 1 }];
    assert!(render(&samples, &old, NOW).contains(">-60 min<"), "never more than the hour");
    let empty = render(&[], &[], NOW);
    assert_eq!(empty.matches("<polyline").count(), 0);
    assert_eq!(empty.matches("class=\"panel ").count(), 3, "an idle project still shows its axes");
}

#[test]
fn axis_scales_are_round() {
    assert_eq!(nice(0.3), 0.5);
    assert_eq!(nice(7.0), 10.0);
    assert_eq!(nice(120.0), 200.0);
    assert_eq!(short(2000.0), "2k");
}
