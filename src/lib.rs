//! versiongate: zero-downtime deploys for one VPS, in one process.
//!
//! # Layout
//! The data plane (Pingora) and the control plane (controller, admin API, store) share exactly one
//! piece of state: the [`routes::Routes`] table.
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | wiring: builds Routes, Metrics, Store and hands them to the services |
//! | [`config`] | the shape, defaults, env overrides and validation of `versiongate.toml` |
//! | [`project`] | what a project is, its slots and its validation (pure) |
//! | [`slot`] | blue and green: a project's two ports, and picking free base ports (pure) |
//! | [`deployment`] | one deployment's statuses, phases and legal transitions (pure) |
//! | [`routes`] | desired route state and traffic controls, the table built from it (pure), the request decision (pure), the atomic snapshot, paused projects' held requests |
//! | [`proxy`] | serving one request: `lane` (our HTTP/1.1 reader, first for every HTTP/1.1 request) and `pipeline` (Pingora's proxy: HTTP/2 and what the lane hands over), one verdict over `routes::decide`, one renderer of the gateway's own answers |
//! | [`health`] | is this upstream fit for traffic: probe and consecutive passes; replicas back into rotation |
//! | [`store`] | sqlx pool (SQLite or PostgreSQL), migrations, queries; the desired routes (read without opening any secret) |
//! | [`controller`] | `deploy` (the pipeline: CI gate, blue-green, canary, hold-and-swap; cancel, rollback), `schedule` (per-project queues under leases, the reaper), `recovery`, `cluster`, the `registry` of running work, previews, traffic controls, the one route writer (`sync`) |
//! | [`runtime`] | runtimes as strategies (`docker`, `external`, `swarm`), what each kind of runtime allows (`RuntimeKind`), and the container engine they drive |
//! | [`admin`] | the REST API, the dashboard (`admin::dashboard`), `/metrics`, `/healthz`, the one API error type |
//! | [`tls`] | the TLS listener's certificate map and resolver, ACME challenge answers, certificate parsing |
//! | [`acme`] | certificates in the control plane: ACME orders and renewals, uploads, the one map writer |
//! | [`nginx`] | the optional include-file output for an nginx in front |
//! | [`source`] | getting one commit of a repo onto disk (git2) |
//! | [`builder`] | what gets built: the build context and, for repos without one, a generated Dockerfile |
//! | [`webhook`] | authenticated GitHub events (push, pull_request, checks), GitLab and Gitea/Forgejo pushes → decisions (pure) |
//! | [`checks`] | CI results for a commit and the verdict of `required_checks` on them (pure) |
//! | [`outcomes`] | deployment outcomes tailed from the store's event history, offered to listeners |
//! | [`github`] | GitHub's REST API: the client, retries, the mirror of deployments and preview comments |
//! | [`notify`] | `[[notify]]` receivers: formats (pure), bounded queues, retries, last deliveries |
//! | [`outbound`] | the HTTP client for calls versiongate makes itself |
//! | [`secrets`] | write-only values encrypted at rest (AES-256-GCM) and the key file |
//! | [`metrics`] | every metric name, label and bucket |
//! | `lock` | the one way a std lock is taken: a poisoned lock is taken anyway, never across an `.await` |
//! | [`upgrade`] | replacing the running gateway with a new binary: socket hand-over, retirement, signals |
//! | [`cli`] | the client subcommands that talk to the admin API |
//!
//! # How a route change flows
//! The store holds what *should* serve: per project a `route_targets` row (traffic state, rollout split)
//! and `route_members` rows (which deployment serves in the active, warm or rollout pool). They change
//! only in the transaction of the status change that moves traffic (switch, observe flip, rollback,
//! drain end, recovery). After the commit the controller calls its one `sync`, which reads that state,
//! builds a whole [`routes::RouteTable`] with the pure [`routes::RouteTable::from_state`], and publishes
//! it with one atomic store. On every request the proxy takes the current snapshot and asks the pure
//! [`routes::decide`] what to do, then does the I/O. Nobody edits the table in place, and nobody reads it
//! to learn what is live: the store says.
// Audited exceptions: `source::limit_network_waits` sets libgit2's global timeouts; in
// `upgrade::listener`, `adopt` turns the admin socket handed over by an upgrade into a listener and
// `set_defer_accept` sets one socket option Pingora does not offer.
#![deny(unsafe_code)]

pub mod acme;
pub mod admin;
pub mod app;
pub mod builder;
pub mod checks;
pub mod cli;
pub mod config;
pub mod controller;
pub mod deployment;
pub mod github;
pub mod health;
mod lock;
pub mod metrics;
pub mod nginx;
pub mod notify;
pub mod outbound;
pub mod outcomes;
pub mod project;
pub mod proxy;
pub mod routes;
pub mod secrets;
pub mod tls;
pub mod upgrade;

pub mod runtime;
pub mod slot;
pub mod source;
pub mod store;
pub mod webhook;
