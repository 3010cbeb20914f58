//! The test hook `VERSIONGATE_TEST_HOOK`: parks or panics every deployment entering one phase.
//!
//! Crash tests use it to land a SIGKILL inside a step that is otherwise too short to hit (start,
//! switch, drain), and fault tests to panic inside a real gateway under load. Nothing else sets it, and
//! the hold and the panic are compiled only with the `test-hooks` feature: a release binary ignores it.

use super::Inner;
use crate::deployment::Phase;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookAction {
    Hold(Duration),
    Panic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestHook {
    pub(crate) phase: Phase,
    pub(crate) action: HookAction,
}

impl TestHook {
    /// `<phase>:hold:<milliseconds>` or `<phase>:panic`, for example `switching:hold:30000`.
    pub(crate) fn parse(value: &str) -> Option<TestHook> {
        let mut parts = value.split(':');
        let phase = parts.next()?.parse().ok()?;
        let action = match (parts.next()?, parts.next()) {
            ("hold", Some(ms)) => HookAction::Hold(Duration::from_millis(ms.parse().ok()?)),
            ("panic", None) => HookAction::Panic,
            _ => return None,
        };
        parts.next().is_none().then_some(TestHook { phase, action })
    }
}

impl Inner {
    /// Where a step begins: nothing, in a build without the `test-hooks` feature.
    #[cfg(not(feature = "test-hooks"))]
    pub(super) async fn at_hook(&self, _id: i64, _phase: Phase) {}

    /// Where a step begins: acts if the hook names this phase.
    #[cfg(feature = "test-hooks")]
    pub(super) async fn at_hook(&self, id: i64, phase: Phase) {
        match self.hook.filter(|h| h.phase == phase).map(|h| h.action) {
            Some(HookAction::Hold(duration)) => {
                tracing::warn!(deployment_id = id, "test hook: holding in {phase} for {duration:?}");
                tokio::time::sleep(duration).await;
            }
            Some(HookAction::Panic) => panic!("test hook: injected panic in {phase}"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hold_and_panic_and_nothing_else() {
        let hold = TestHook::parse("switching:hold:1500").unwrap();
        assert_eq!(hold, TestHook { phase: Phase::Switching, action: HookAction::Hold(Duration::from_millis(1500)) });
        assert_eq!(TestHook::parse("draining:panic").unwrap().action, HookAction::Panic);
        for bad in ["", "switching", "switching:hold", "nowhere:panic", "draining:panic:1", "fetching:hold:x"] {
            assert_eq!(TestHook::parse(bad), None, "{bad}");
        }
    }
}
