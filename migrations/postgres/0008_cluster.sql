-- Several gateways on one store: each one's heartbeat, for /healthz and for telling the living from the dead.
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    version    TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- Work exactly one gateway does (announcing outcomes, reaping previews, ordering certificates), held like
-- a deploy lease: by heartbeat.
CREATE TABLE cluster_roles (
    role         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
