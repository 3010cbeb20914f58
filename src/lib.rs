//! versiongate: zero-downtime deploys for one VPS, in one process.
//!
//! # Layout
//! The data plane (Pingora) and the control plane (controller, admin API, store)
//! share exactly one piece of state: the [`routes::Routes`] table.
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | wiring: builds Routes, Metrics, Store and hands them to the services |
//! | [`config`] | the shape, defaults, env overrides and validation of `versiongate.toml` |
//! | [`project`] | what a project is, its slots and its validation (pure) |
//! | [`slot`] | blue and green: a project's two ports, and picking free base ports (pure) |
//! | [`deployment`] | one deployment's statuses, phases and legal transitions (pure) |
//! | [`routes`] | the route table snapshot, host lookup, the atomic switch, per-slot counters |
//! | [`proxy`] | serving one request: host → route → peer → metrics; error pages |
//! | [`health`] | is this upstream fit for traffic: probe and consecutive passes |
//! | [`store`] | sqlx pool (SQLite or PostgreSQL), migrations, queries |
//! | [`controller`] | per-project queues, leases, the deploy pipeline, recovery at startup |
//! | [`admin`] | the REST API, the dashboard (`admin::dashboard`), `/metrics`, `/healthz`, the one API error type |
//! | [`nginx`] | the optional include-file output for an nginx in front |
//! | [`source`] | getting one commit of a repo onto disk (git2) |
//! | [`build`] | what gets built: the build context and, for repos without one, a generated Dockerfile |
//! | [`runtime`] | the `ContainerRuntime` trait and its Docker (bollard) implementation |
//! | [`webhook`] | authenticated GitHub events → deploy decisions (pure) |
//! | [`secrets`] | write-only values encrypted at rest (AES-256-GCM) and the key file |
//! | [`metrics`] | every metric name, label and bucket |
//! | [`cli`] | the client subcommands that talk to the admin API |
// One audited exception: `source::limit_network_waits` sets libgit2's global timeouts.
#![deny(unsafe_code)]

pub mod admin;
pub mod app;
pub mod build;
pub mod cli;
pub mod config;
pub mod controller;
pub mod deployment;
pub mod health;
pub mod metrics;
pub mod nginx;
pub mod project;
pub mod proxy;
pub mod routes;
pub mod secrets;

pub mod runtime;
pub mod slot;
pub mod source;
pub mod store;
pub mod webhook;
