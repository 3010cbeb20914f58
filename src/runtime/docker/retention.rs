//! Image retention: the last `keep_images` images that went live stay for rollback; the live image and the
//! one before it are always pinned; older `versiongate/<project>` images are pruned after each deploy.

use crate::deployment::Status;
use crate::runtime::engine::ContainerEngine;
use crate::store::Deployment;

/// The images to keep (pure): pinned ones, then the newest distinct images that went live, `keep` in all.
pub(crate) fn keep(deployments_newest_first: &[Deployment], keep: usize) -> Vec<String> {
    let went_live = |d: &&Deployment| matches!(d.status, Status::Active | Status::Superseded | Status::RolledBack);
    let live = deployments_newest_first.iter().find(|d| d.status == Status::Active);
    let previous = deployments_newest_first.iter().find(|d| d.status == Status::Superseded);
    let mut kept: Vec<String> = [live, previous].into_iter().flatten().filter_map(|d| d.image.clone()).collect();
    kept.dedup();
    for d in deployments_newest_first.iter().filter(went_live) {
        match &d.image {
            Some(image) if kept.len() < keep.max(kept.len()) && !kept.contains(image) => kept.push(image.clone()),
            _ => {}
        }
    }
    kept
}

/// Removes the project's images that [`keep`] does not name; returns a log line per pruned image.
/// Failures are logged, never fatal.
pub(super) async fn prune(
    engine: &dyn ContainerEngine,
    project: &str,
    keep_images: u32,
    history: &[Deployment],
) -> Vec<String> {
    let kept = keep(history, keep_images as usize);
    let Ok(present) = engine.project_images(project).await else { return Vec::new() };
    let mut lines = Vec::new();
    for image in present.iter().filter(|i| !kept.contains(i)) {
        match engine.remove_image(image).await {
            Ok(()) => lines.push(format!("pruned {image} (keep_images = {keep_images})")),
            Err(e) => tracing::warn!(project, "cannot prune {image}: {e}"),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: i64, status: Status, image: Option<&str>) -> Deployment {
        Deployment { image: image.map(str::to_owned), ..Deployment::sample(id, status) }
    }

    #[test]
    fn keeps_the_newest_that_went_live_and_always_the_pinned_two() {
        let history = vec![
            d(7, Status::Failed, Some("i7")),
            d(6, Status::Active, Some("i6")),
            d(5, Status::RolledBack, Some("i5")),
            d(4, Status::Superseded, Some("i4")),
            d(3, Status::Superseded, Some("i3")),
            d(2, Status::Cancelled, None),
            d(1, Status::Superseded, Some("i1")),
        ];
        assert_eq!(keep(&history, 3), ["i6", "i4", "i5"]);
        assert_eq!(keep(&history, 1), ["i6", "i4"], "live and previous are pinned even past keep_images");
        assert_eq!(keep(&history, 10), ["i6", "i4", "i5", "i3", "i1"]);
        let rollback_reuse = vec![
            d(9, Status::Active, Some("i4")),
            d(8, Status::RolledBack, Some("i8")),
            d(4, Status::Superseded, Some("i4")),
        ];
        assert_eq!(keep(&rollback_reuse, 2), ["i4", "i8"]);
    }
}
