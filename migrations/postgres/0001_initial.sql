-- versiongate schema, PostgreSQL flavour. Times are Unix milliseconds.
CREATE TABLE projects (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    base_port  BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE project_domains (
    domain  TEXT PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE
);

CREATE TABLE deployments (
    id           BIGSERIAL PRIMARY KEY,
    project      TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    phase        TEXT NOT NULL,
    slot         TEXT,
    port         BIGINT,
    target       TEXT,
    commit_sha   TEXT,
    git_ref      TEXT,
    image        TEXT,
    trigger_kind TEXT NOT NULL,
    rollback_of  BIGINT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX deployments_project_id ON deployments (project, id);
CREATE INDEX deployments_status ON deployments (status);

CREATE TABLE deployment_events (
    id            BIGSERIAL PRIMARY KEY,
    deployment_id BIGINT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    phase         TEXT NOT NULL,
    message       TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX deployment_events_deployment ON deployment_events (deployment_id, id);

CREATE TABLE deployment_logs (
    id            BIGSERIAL PRIMARY KEY,
    deployment_id BIGINT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    line          TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX deployment_logs_deployment ON deployment_logs (deployment_id, id);

CREATE TABLE deploy_leases (
    project       TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    deployment_id BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
