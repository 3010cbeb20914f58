//! The GitHub flow's stored state, each case on SQLite and on PostgreSQL: previews, CI results, the
//! GitHub repository and deployment of each of ours, and the event history the notifications tail.

use crate::on_both_databases;

use versiongate::checks::{CheckReport, CheckState};
use versiongate::deployment::{Event, Status, Trigger};
use versiongate::project::{ProjectSpec, RuntimeKind};
use versiongate::store::{NewDeployment, Preview, Store};

on_both_databases!(
    previews_remember_pushes_removals_and_their_comment,
    checks_keep_the_latest_state_per_project_commit_and_name,
    the_github_repository_and_deployment_are_remembered,
    the_event_history_tails_in_order,
);

fn preview(parent: &str, number: u32, sha: char) -> Preview {
    Preview {
        project: format!("{parent}-pr-{number}"),
        parent: parent.into(),
        number,
        repository: "octo/app".into(),
        head_sha: sha.to_string().repeat(40),
        fork: number % 2 == 0,
        comment_id: None,
        created_at: 0,
        pushed_at: 0,
        removed_at: None,
        removed_reason: None,
    }
}

async fn previews_remember_pushes_removals_and_their_comment(store: &Store) {
    store.record_preview(&preview("shop", 1, 'a'), 100).await.unwrap();
    store.record_preview(&preview("shop", 2, 'b'), 200).await.unwrap();
    store.record_preview(&preview("blog", 1, 'c'), 300).await.unwrap();
    let shop: Vec<u32> = store.previews_of("shop", false).await.unwrap().iter().map(|p| p.number).collect();
    assert_eq!(shop, [2, 1], "most recently pushed first");
    // A new push to #1 moves it first and keeps when it was created.
    store.record_preview(&preview("shop", 1, 'd'), 400).await.unwrap();
    let one = store.preview("shop-pr-1").await.unwrap().unwrap();
    assert_eq!((one.created_at, one.pushed_at, one.head_sha.as_str()), (100, 400, "d".repeat(40).as_str()));
    assert!(store.preview("shop-pr-2").await.unwrap().unwrap().fork);
    store.set_preview_comment("shop-pr-1", 987654321012).await.unwrap();
    store.mark_preview_removed("shop-pr-2", "pull request #2 was closed", 500).await.unwrap();
    let live: Vec<String> = store.live_previews().await.unwrap().into_iter().map(|p| p.project).collect();
    assert_eq!(live, ["blog-pr-1", "shop-pr-1"]);
    let all = store.previews_of("shop", true).await.unwrap();
    assert_eq!(all.len(), 2);
    let removed = all.iter().find(|p| p.number == 2).unwrap();
    assert_eq!(
        (removed.removed_at, removed.removed_reason.as_deref()),
        (Some(500), Some("pull request #2 was closed"))
    );
    assert_eq!(all.iter().find(|p| p.number == 1).unwrap().comment_id, Some(987654321012));
    // Reopened: live again, its history cleared.
    store.record_preview(&preview("shop", 2, 'e'), 600).await.unwrap();
    let back = store.preview("shop-pr-2").await.unwrap().unwrap();
    assert_eq!((back.removed_at, back.removed_reason), (None, None));
}

fn report(commit: char, name: &str, state: CheckState) -> CheckReport {
    CheckReport { commit: commit.to_string().repeat(40), name: name.into(), state }
}

async fn checks_keep_the_latest_state_per_project_commit_and_name(store: &Store) {
    store.record_check("shop", &report('a', "test", CheckState::Pending), 1).await.unwrap();
    store.record_check("shop", &report('a', "lint", CheckState::Success), 2).await.unwrap();
    store.record_check("shop", &report('a', "test", CheckState::Failure("timed_out".into())), 3).await.unwrap();
    store.record_check("shop", &report('b', "test", CheckState::Success), 4).await.unwrap();
    store.record_check("blog", &report('a', "test", CheckState::Success), 5).await.unwrap();
    let a = store.checks("shop", &"a".repeat(40)).await.unwrap();
    assert_eq!(
        a,
        vec![("lint".to_owned(), CheckState::Success), ("test".to_owned(), CheckState::Failure("timed_out".into()))]
    );
    assert_eq!(store.checks("blog", &"a".repeat(40)).await.unwrap(), vec![("test".to_owned(), CheckState::Success)]);
    assert!(store.checks("shop", &"c".repeat(40)).await.unwrap().is_empty());
}

async fn the_github_repository_and_deployment_are_remembered(store: &Store) {
    let spec = ProjectSpec { name: "shop".into(), runtime: RuntimeKind::External, ..ProjectSpec::default() };
    store.create_project(spec, 1, &|_| true).await.unwrap();
    assert_eq!(store.github_repo("shop").await.unwrap(), None);
    store.set_github_repo("shop", "octo/app", 1).await.unwrap();
    store.set_github_repo("shop", "octo/renamed", 2).await.unwrap();
    assert_eq!(store.github_repo("shop").await.unwrap().as_deref(), Some("octo/renamed"));
    let new = NewDeployment { project: "shop".into(), trigger: Some(Trigger::Api), ..NewDeployment::default() };
    let d = store.create_deployment(new, 3).await.unwrap();
    assert_eq!(store.github_deployment(d.id).await.unwrap(), None);
    store.set_github_deployment(d.id, 1_234_567_890_123).await.unwrap();
    assert_eq!(store.github_deployment(d.id).await.unwrap(), Some(1_234_567_890_123));
    store.record_check("shop", &report('a', "test", CheckState::Success), 4).await.unwrap();
    assert!(store.delete_project("shop").await.unwrap());
    assert_eq!(store.github_repo("shop").await.unwrap(), None, "removed with the project");
    assert!(store.checks("shop", &"a".repeat(40)).await.unwrap().is_empty(), "removed with the project");
}

async fn the_event_history_tails_in_order(store: &Store) {
    let spec = ProjectSpec { name: "shop".into(), runtime: RuntimeKind::External, ..ProjectSpec::default() };
    store.create_project(spec, 1, &|_| true).await.unwrap();
    let start = store.last_event_id().await.unwrap();
    let new = NewDeployment { project: "shop".into(), trigger: Some(Trigger::Api), ..NewDeployment::default() };
    let d = store.create_deployment(new, 2).await.unwrap();
    store.apply(d.id, Event::Start, None, None, 3).await.unwrap();
    store.apply(d.id, Event::Fail, None, Some("boom"), 4).await.unwrap();
    let events = store.events_after(start, 10).await.unwrap();
    let statuses: Vec<Status> = events.iter().map(|e| e.2).collect();
    assert_eq!(statuses, [Status::Queued, Status::Deploying, Status::Failed]);
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0) && events.iter().all(|e| e.1 == d.id));
    assert_eq!(store.last_event_id().await.unwrap(), events[2].0);
    assert_eq!(store.events_after(events[2].0, 10).await.unwrap(), vec![]);
}
