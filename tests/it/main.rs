//! The integration suite in one test binary, so the crate is linked once. Each module is one feature's
//! tests against the real binary (started by `harness::Gateway` on loopback ports) or, for the store
//! modules, against SQLite and PostgreSQL. `tests/README.md` maps features to modules.
//!
//! Tests run side by side (cargo's default: one per core): every test uses its own ports
//! (`harness::free_port`), its own data dir and project names no other test uses
//! (`harness::unique_name`), since the Docker engine and the PostgreSQL server are shared.

mod harness;

mod api;
mod autobuild;
mod browser;
mod cluster;
mod crash;
mod dashboard;
mod deploy_tokens;
mod docker;
mod fast_path;
mod faults;
mod floods;
mod gateway;
mod git_hosts;
mod github_flow;
mod https;
mod https_edges;
mod isolation;
mod matrix;
mod nginx;
mod notify;
mod proxy_input;
mod reaper;
mod restore;
mod rollback;
mod smuggling;
mod store;
mod store_cluster;
mod store_github;
mod swarm;
mod traffic;
mod traffic_docker;
mod untrusted;
mod upgrade;
mod zero_downtime;
