use super::*;
use crate::metrics::Metrics;

pub(crate) fn state(projects: &[(&str, &[&str])], members: &[(&str, &str, i64, &str, &str)]) -> RouteState {
    RouteState {
        projects: projects
            .iter()
            .map(|(n, d)| ProjectInput {
                name: n.to_string(),
                domains: d.iter().map(|s| s.to_string()).collect(),
                https_redirect: true,
                health_path: "/health".into(),
                healthy_threshold: 2,
                pause_queue: 1000,
                drain_timeout_s: 30,
            })
            .collect(),
        targets: Vec::new(),
        members: members
            .iter()
            .map(|(project, pool, id, slot, target)| MemberRow {
                project: project.to_string(),
                pool: pool.to_string(),
                deployment_id: *id,
                weight: 1,
                slot: Some(slot.to_string()),
                target: Some(target.to_string()),
            })
            .collect(),
    }
}

pub(crate) fn build(state: &RouteState, metrics: &Metrics) -> (RouteTable, Vec<String>) {
    RouteTable::from_state(state, &TableOptions::default(), &|name| metrics.project(name))
}

fn addrs(pool: &Pool) -> Vec<String> {
    pool.members.iter().map(|m| m.addr.to_string()).collect()
}

#[test]
fn a_project_without_members_is_routed_but_has_nothing_live() {
    let m = Metrics::new().unwrap();
    let (t, problems) = build(&state(&[("a", &["a.test"])], &[]), &m);
    let a = t.lookup("a.test").unwrap();
    assert!(a.backend.pools().active.is_empty() && problems.is_empty());
    assert_eq!(a.live_slot(), None);
}

#[test]
fn members_land_in_their_pools_with_their_slot() {
    let m = Metrics::new().unwrap();
    let s = state(
        &[("a", &["a.test"]), ("b", &["b.test"])],
        &[("a", "active", 2, "green", "127.0.0.1:20001"), ("a", "warm", 1, "blue", "127.0.0.1:20000")],
    );
    let (t, problems) = build(&s, &m);
    assert!(problems.is_empty(), "{problems:?}");
    let a = t.project("a").unwrap();
    assert_eq!(addrs(&a.backend.pools().active), ["127.0.0.1:20001"]);
    assert_eq!(addrs(&a.backend.pools().warm), ["127.0.0.1:20000"]);
    assert_eq!(a.live_slot(), Some(Slot::Green));
    assert!(t.project("b").unwrap().backend.pools().active.is_empty(), "members never leak to another project");
}

#[test]
fn a_corrupt_member_is_a_problem_of_its_project_only() {
    let m = Metrics::new().unwrap();
    let s = state(
        &[("good", &["good.test"]), ("odd", &["odd.test"])],
        &[("good", "active", 1, "blue", "127.0.0.1:20000"), ("odd", "active", 2, "blue", "nowhere")],
    );
    let (t, problems) = build(&s, &m);
    assert_eq!(problems, ["project `odd`: deployment 2 has no usable address"]);
    assert!(t.project("odd").unwrap().backend.pools().active.is_empty());
    assert_eq!(t.project("good").unwrap().live_slot(), Some(Slot::Blue));
}

#[test]
fn traffic_states_and_a_rollout_come_from_the_target_row() {
    let m = Metrics::new().unwrap();
    let mut s = state(
        &[("p", &["p.test"]), ("m", &["m.test"]), ("c", &["c.test"]), ("x", &["x.test"])],
        &[("c", "active", 1, "blue", "127.0.0.1:1"), ("c", "rollout", 2, "green", "127.0.0.1:2")],
    );
    let row = |project: &str, traffic: &str| TargetRow {
        project: project.into(),
        traffic: traffic.into(),
        message: Some("back soon".into()),
        rollout_percent: Some(250),
        pause_timeout_s: Some(99_999),
    };
    s.targets = vec![row("p", "paused"), row("m", "maintenance"), row("c", "serving"), row("x", "sideways")];
    let (t, problems) = build(&s, &m);
    assert!(matches!(t.project("p").unwrap().backend, Backend::Paused { hold, .. } if hold.as_secs() == 3600));
    assert!(matches!(&t.project("m").unwrap().backend, Backend::Maintenance { message, .. } if message == "back soon"));
    let rollout = t.project("c").unwrap().backend.pools().rollout.clone().unwrap();
    assert_eq!((rollout.percent, addrs(&rollout.pool)), (99, vec!["127.0.0.1:2".to_string()]));
    assert!(matches!(t.project("x").unwrap().backend, Backend::Serve(_)), "an unreadable state keeps serving");
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[test]
fn lookup_prefers_exact_then_one_label_wildcard() {
    let m = Metrics::new().unwrap();
    let (t, _) =
        build(&state(&[("site", &["example.com", "www.example.com"]), ("tenants", &["*.example.com"])], &[]), &m);
    let name_of = |host: &str| t.lookup(host).map(|r| r.name.to_string());
    assert_eq!(name_of("example.com").as_deref(), Some("site"));
    assert_eq!(name_of("www.example.com").as_deref(), Some("site"));
    assert_eq!(name_of("acme.example.com").as_deref(), Some("tenants"));
    assert_eq!(name_of("a.b.example.com"), None);
    assert_eq!(name_of("unknown.org"), None);
    assert_eq!(name_of("com"), None);
}

#[test]
fn in_flight_counters_survive_a_rebuild() {
    let m = Metrics::new().unwrap();
    let s = state(&[("a", &["a.test"])], &[("a", "active", 1, "blue", "127.0.0.1:20000")]);
    let (before, _) = build(&s, &m);
    before.project("a").unwrap().backend.pools().active.members[0].inflight.inc();
    let s = state(&[("a", &["a.test"])], &[("a", "warm", 1, "blue", "127.0.0.1:20000")]);
    let (after, _) = build(&s, &m);
    assert_eq!(after.project("a").unwrap().backend.pools().warm.members[0].inflight.get(), 1);
    assert_eq!(before.project("a").unwrap().backend.pools().warm.members.len(), 0, "old snapshots never change");
}

#[test]
fn the_pick_takes_the_member_with_the_fewest_in_flight_and_retries_elsewhere() {
    let m = Metrics::new().unwrap();
    let s = state(
        &[("a", &["a.test"])],
        &[("a", "active", 1, "blue", "127.0.0.1:1"), ("a", "active", 2, "green", "127.0.0.1:2")],
    );
    let (t, _) = build(&s, &m);
    let pools = t.project("a").unwrap().backend.pools();
    pools.active.members[0].handles.inflight.inc();
    for roll in 0..4 {
        assert_eq!(pools.active.pick(roll).unwrap().deployment_id, 2, "roll {roll}");
    }
    pools.active.members[0].handles.inflight.dec();
    let picked: std::collections::HashSet<i64> = (0..4).map(|r| pools.active.pick(r).unwrap().deployment_id).collect();
    assert_eq!(picked.len(), 2, "equal members share the load");
    assert_eq!(pools.retry_member("127.0.0.1:1".parse().unwrap(), 0).unwrap().deployment_id, 2);
}

#[test]
fn a_heavier_member_takes_more_in_flight_before_the_lighter_one_is_picked() {
    let m = Metrics::new().unwrap();
    let mut s = state(
        &[("a", &["a.test"])],
        &[("a", "active", 1, "blue", "127.0.0.1:1"), ("a", "active", 2, "green", "127.0.0.1:2")],
    );
    s.members[0].weight = 3;
    let (t, _) = build(&s, &m);
    let pools = t.project("a").unwrap().backend.pools();
    pools.active.members[0].handles.inflight.add(2);
    pools.active.members[1].handles.inflight.inc();
    assert_eq!(pools.active.pick(0).unwrap().deployment_id, 1, "2 of weight 3 is less than 1 of weight 1");
    pools.active.members[0].handles.inflight.add(2);
    assert_eq!(pools.active.pick(0).unwrap().deployment_id, 2, "4 of weight 3 is more than 1 of weight 1");
}

#[test]
fn each_replica_of_a_deployment_is_a_member_and_one_out_of_rotation_is_skipped() {
    let m = Metrics::new().unwrap();
    let three = "127.0.0.1:20000,127.0.0.1:20002,127.0.0.1:20004";
    let (t, problems) = build(&state(&[("a", &["a.test"])], &[("a", "active", 1, "blue", three)]), &m);
    assert!(problems.is_empty(), "{problems:?}");
    let active = &t.project("a").unwrap().backend.pools().active;
    let replicas: Vec<u16> = active.members.iter().map(|m| m.replica).collect();
    assert_eq!((addrs(active).len(), replicas), (3, vec![1, 2, 3]));
    // Replica 2 refused a connection: no roll picks it while the others are in rotation.
    active.members[1].handles.up.set(0);
    assert!((0..30).all(|r| active.pick(r).unwrap().replica != 2));
    let failed = active.members[0].addr;
    let pools = t.project("a").unwrap().backend.pools();
    assert!((0..30).all(|r| pools.retry_member(failed, r).unwrap().replica == 3), "the retry skips both");
    // Every replica out: the least loaded is still tried rather than a certain 503.
    for member in &active.members {
        member.handles.up.set(0);
    }
    active.members[0].handles.inflight.inc();
    assert!((0..30).all(|r| active.pick(r).unwrap().replica != 1));
    // A rebuild keeps the replicas' handles (in flight, rotation).
    let (again, _) = build(&state(&[("a", &["a.test"])], &[("a", "active", 1, "blue", three)]), &m);
    let member = &again.project("a").unwrap().backend.pools().active.members[0];
    assert_eq!((member.handles.inflight.get(), member.handles.in_rotation()), (1, false));
    let bad = "127.0.0.1:20000,nonsense";
    let (t, problems) = build(&state(&[("a", &["a.test"])], &[("a", "active", 1, "blue", bad)]), &m);
    assert!(t.project("a").unwrap().backend.pools().active.is_empty());
    assert_eq!(problems.len(), 1, "one bad address spoils the row, reported for its project");
}
