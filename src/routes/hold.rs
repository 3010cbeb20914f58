//! Requests held while their project is paused: one queue per project, released in arrival order when a
//! published table no longer pauses the project.

use super::table::{Backend, RouteTable};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The waiting requests of every paused project.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    queues: Mutex<HashMap<Arc<str>, VecDeque<oneshot::Sender<()>>>>,
}

impl Holds {
    /// Joins the project's queue; the receiver fires when a table that does not pause it is published.
    /// The caller checks the current table again after this, so a resume published in between is not missed.
    pub(crate) fn enqueue(&self, project: &Arc<str>) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut queues = crate::lock::lock(&self.queues);
        let queue = queues.entry(project.clone()).or_default();
        // Requests that gave up (timed out, client gone) leave no sender worth keeping.
        queue.retain(|waiting| !waiting.is_closed());
        queue.push_back(tx);
        rx
    }

    /// Called after every publish: each project that no longer pauses (or is gone) lets its requests go,
    /// oldest first.
    pub(crate) fn release(&self, table: &RouteTable) {
        let mut queues = crate::lock::lock(&self.queues);
        queues.retain(|project, queue| {
            let paused = table.project(project).is_some_and(|r| matches!(r.backend, Backend::Paused { .. }));
            if !paused {
                for waiting in queue.drain(..) {
                    let _ = waiting.send(());
                }
            }
            paused
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::routes::table::tests::{build, state};
    use crate::routes::TargetRow;

    #[test]
    fn held_requests_go_in_order_when_the_pause_ends() {
        let m = Metrics::new().unwrap();
        let mut paused = state(&[("a", &["a.test"]), ("b", &["b.test"])], &[]);
        for p in ["a", "b"] {
            paused.targets.push(TargetRow { project: p.into(), traffic: "paused".into(), ..TargetRow::default() });
        }
        let holds = Holds::default();
        let a: Arc<str> = "a".into();
        let mut first = holds.enqueue(&a);
        let gave_up = holds.enqueue(&a);
        drop(gave_up);
        let mut second = holds.enqueue(&a);
        let mut other = holds.enqueue(&"b".into());
        holds.release(&build(&paused, &m).0);
        assert!(first.try_recv().is_err(), "still paused: nobody goes");
        paused.targets.retain(|t| t.project == "b");
        holds.release(&build(&paused, &m).0);
        assert_eq!((first.try_recv(), second.try_recv()), (Ok(()), Ok(())));
        assert!(other.try_recv().is_err(), "b is still paused");
        assert_eq!(holds.queues.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn held_requests_resume_in_arrival_order() {
        let m = Metrics::new().unwrap();
        let mut paused = state(&[("a", &["a.test"])], &[]);
        paused.targets.push(TargetRow { project: "a".into(), traffic: "paused".into(), ..TargetRow::default() });
        let holds = Holds::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let a: Arc<str> = "a".into();
        let waiting: Vec<_> = (0..5)
            .map(|n| {
                let (released, order) = (holds.enqueue(&a), order.clone());
                tokio::spawn(async move {
                    released.await.unwrap();
                    order.lock().unwrap().push(n);
                })
            })
            .collect();
        tokio::task::yield_now().await;
        holds.release(&build(&paused, &m).0);
        paused.targets.clear();
        holds.release(&build(&paused, &m).0);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
