//! What gets built: runtime detection and the generated Dockerfile (pure), and the build context.
//!
//! [`plan::plan`] turns a repository [`plan::Listing`] into a [`plan::BuildPlan`]: the repo's own
//! Dockerfile when it has one, else a Dockerfile generated for Node.js, Bun or Python.

pub(crate) mod context;
mod dockerfile;
#[cfg(test)]
mod golden;
pub(crate) mod listing;
mod node;
pub mod plan;
mod python;
pub(crate) mod recipe;

pub(crate) use dockerfile::DOCKERIGNORE;
