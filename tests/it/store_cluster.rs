//! What gateways on one store share besides routes, each case on SQLite and on PostgreSQL: dashboard
//! sessions, open ACME challenge answers, where the announcer got to, and each gateway's engine and token.

use crate::on_both_databases;

use versiongate::store::{ChallengeRow, Node, Role, Store};

on_both_databases!(
    sessions_are_found_by_digest_touched_ended_and_capped,
    challenge_answers_open_close_and_lapse,
    the_announcer_role_remembers_where_its_holder_got_to,
    nodes_report_their_engine_and_token_digest,
);

async fn sessions_are_found_by_digest_touched_ended_and_capped(store: &Store) {
    store.create_session("d1", "csrf1", 100, 0).await.unwrap();
    let row = store.session("d1").await.unwrap().unwrap();
    assert_eq!((row.csrf.as_str(), row.last_seen), ("csrf1", 100));
    store.touch_session("d1", 500).await.unwrap();
    assert_eq!(store.session("d1").await.unwrap().unwrap().last_seen, 500);
    assert_eq!(store.session("unknown").await.unwrap(), None);
    store.end_session("d1").await.unwrap();
    assert_eq!(store.session("d1").await.unwrap(), None, "logged out");

    // Creating one drops the idle ones, and keeps at most 1000, the least recently used going first.
    store.create_session("idle", "c", 10, 0).await.unwrap();
    store.create_session("fresh", "c", 2000, 1000).await.unwrap();
    assert_eq!(store.session("idle").await.unwrap(), None, "idle since before the limit");
    for i in 0..1000 {
        store.create_session(&format!("s{i}"), "c", 3000 + i, 1000).await.unwrap();
    }
    assert_eq!(store.session("fresh").await.unwrap(), None, "the least recently used made room");
    assert!(store.session("s0").await.unwrap().is_some());
    assert!(store.session("s999").await.unwrap().is_some());
}

fn answer(kind: &str, name: &str, answer: &str) -> ChallengeRow {
    ChallengeRow { kind: kind.into(), name: name.into(), answer: answer.into() }
}

async fn challenge_answers_open_close_and_lapse(store: &Store) {
    store.open_challenge(&answer("http-01", "tok1", "tok1.thumb"), 100).await.unwrap();
    store.open_challenge(&answer("tls-alpn-01", "a.test", "abcd"), 200).await.unwrap();
    store.open_challenge(&answer("tls-alpn-01", "a.test", "ef01"), 300).await.unwrap();
    let mut open = store.open_challenges(0).await.unwrap();
    open.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(open, [answer("http-01", "tok1", "tok1.thumb"), answer("tls-alpn-01", "a.test", "ef01")]);
    assert_eq!(store.open_challenges(150).await.unwrap().len(), 1, "an old answer is one of a dead order");
    assert_eq!(store.challenge_answer("http-01", "tok1", 0).await.unwrap().as_deref(), Some("tok1.thumb"));
    assert_eq!(store.challenge_answer("http-01", "tok1", 150).await.unwrap(), None, "a dead order's answer");
    assert_eq!(store.challenge_answer("tls-alpn-01", "tok1", 0).await.unwrap(), None, "another kind");
    store.close_challenge("http-01", "tok1").await.unwrap();
    assert_eq!(store.challenge_answer("http-01", "tok1", 0).await.unwrap(), None, "withdrawn");
    assert_eq!(store.open_challenges(0).await.unwrap(), [answer("tls-alpn-01", "a.test", "ef01")]);
}

async fn the_announcer_role_remembers_where_its_holder_got_to(store: &Store) {
    assert_eq!(store.role_cursor(Role::Announcer).await.unwrap(), 0, "nobody held it yet");
    assert!(store.hold_role(Role::Announcer, "gw1", 1000, 0).await.unwrap());
    store.set_role_cursor(Role::Announcer, "gw1", 41).await.unwrap();
    store.set_role_cursor(Role::Announcer, "gw2", 99).await.unwrap();
    assert_eq!(store.role_cursor(Role::Announcer).await.unwrap(), 41, "only the holder records");
    assert!(!store.hold_role(Role::Announcer, "gw2", 1500, 900).await.unwrap(), "gw1 is alive");
    assert!(store.hold_role(Role::Announcer, "gw2", 5000, 2000).await.unwrap(), "gw1 went silent");
    assert_eq!(store.role_cursor(Role::Announcer).await.unwrap(), 41, "the new holder goes on from there");
}

async fn nodes_report_their_engine_and_token_digest(store: &Store) {
    let node = Node {
        node: "gw1".into(),
        owner: "1-a".into(),
        version: "0.1.0".into(),
        pid: 1,
        started_at: 10,
        seen_at: 20,
        engine: "ENGINE:ID".into(),
        token_digest: "digest".into(),
    };
    store.beat_node(&node).await.unwrap();
    let moved = Node { engine: "OTHER".into(), seen_at: 30, ..node.clone() };
    store.beat_node(&moved).await.unwrap();
    assert_eq!(store.nodes().await.unwrap(), [moved]);
}
