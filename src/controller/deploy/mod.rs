//! One deployment, from its queue entry to its end: the pipeline's steps and the operator's verbs on a
//! deployment under way.
//!
//! [`pipeline`] runs the steps in order: the CI gate ([`checks`]), the runtime's start, the health gate
//! ([`gate`]), then a [`canary`] or the [`switch`] with its [`observe`] window and [`drain`];
//! hold-and-swap projects take [`swap`] instead. [`failure`] is why a deployment did not go live, and
//! [`journal`] what a runtime step records. The operator [`cancel`]s a deployment or [`rollback`]s a project.

pub(crate) mod canary;
mod cancel;
mod checks;
pub(crate) mod drain;
pub(crate) mod failure;
mod gate;
mod journal;
pub(crate) mod observe;
pub(crate) mod pipeline;
mod rollback;
pub(crate) mod swap;
mod switch;
