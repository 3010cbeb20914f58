-- Certificates served on https_listen, one row per host and source (an uploaded certificate wins over
-- ACME's for its host). Private keys are sealed with the gateway's secret key. Per-host state: one
-- host's failed order or bad certificate never touches another row.
CREATE TABLE certificates (
    host       TEXT NOT NULL,
    source     TEXT NOT NULL,
    status     TEXT NOT NULL,
    cert_pem   TEXT,
    key_sealed TEXT,
    issuer     TEXT,
    not_before INTEGER,
    not_after  INTEGER,
    renew_at   INTEGER,
    error      TEXT,
    failures   INTEGER NOT NULL DEFAULT 0,
    retry_at   INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (host, source)
);
-- The ACME account per directory, created once (credentials sealed).
CREATE TABLE acme_accounts (
    directory_url      TEXT PRIMARY KEY,
    credentials_sealed TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);
