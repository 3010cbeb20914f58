-- versiongate schema, SQLite flavour. Times are Unix milliseconds.
CREATE TABLE projects (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    base_port  INTEGER NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE project_domains (
    domain  TEXT PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE
);

CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project      TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    phase        TEXT NOT NULL,
    slot         TEXT,
    port         INTEGER,
    target       TEXT,
    commit_sha   TEXT,
    git_ref      TEXT,
    image        TEXT,
    trigger_kind TEXT NOT NULL,
    rollback_of  INTEGER,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX deployments_project_id ON deployments (project, id);
CREATE INDEX deployments_status ON deployments (status);

CREATE TABLE deployment_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    phase         TEXT NOT NULL,
    message       TEXT NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX deployment_events_deployment ON deployment_events (deployment_id, id);

CREATE TABLE deployment_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    line          TEXT NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX deployment_logs_deployment ON deployment_logs (deployment_id, id);

CREATE TABLE deploy_leases (
    project       TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    deployment_id INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL
);
