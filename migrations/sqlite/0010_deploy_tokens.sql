-- Each project's deploy token, by the hex SHA-256 digest of the token: the API finds the project a presented
-- token belongs to with one indexed lookup (no per-project comparison whose timing could leak), and the
-- unique keys refuse one token for two projects. The token itself lives sealed in the project's spec.
CREATE TABLE deploy_tokens (
    digest  TEXT PRIMARY KEY,
    project TEXT NOT NULL UNIQUE
);
