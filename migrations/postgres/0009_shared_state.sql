-- What several gateways on one store share besides routes and leases.

-- Which Docker engine each gateway drives (docker-runtime projects need one engine for all), and a digest of
-- its admin token (every gateway must accept the same one).
ALTER TABLE cluster_nodes ADD COLUMN engine TEXT NOT NULL DEFAULT '';
ALTER TABLE cluster_nodes ADD COLUMN token_digest TEXT NOT NULL DEFAULT '';

-- Where the announcer role left off in deployment_events, so the next holder goes on from there.
ALTER TABLE cluster_roles ADD COLUMN event_cursor BIGINT NOT NULL DEFAULT 0;

-- Dashboard sessions, by a digest of the cookie's value: valid on every gateway and across restarts.
CREATE TABLE dashboard_sessions (
    id_digest TEXT PRIMARY KEY,
    csrf      TEXT NOT NULL,
    last_seen BIGINT NOT NULL
);

-- Open ACME challenge answers: the CA may ask any gateway. kind 'http-01' by token (the key authorization),
-- 'tls-alpn-01' by host (the hex SHA-256 digest of the key authorization).
CREATE TABLE acme_challenges (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    answer     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
