-- GitHub flow: pull-request previews, CI results per commit, the GitHub repository of each project, and
-- the GitHub deployment that mirrors each of ours.
CREATE TABLE previews (
    project        TEXT PRIMARY KEY,
    parent         TEXT NOT NULL,
    number         BIGINT NOT NULL,
    repository     TEXT NOT NULL,
    head_sha       TEXT NOT NULL,
    fork           BIGINT NOT NULL,
    comment_id     BIGINT,
    created_at     BIGINT NOT NULL,
    pushed_at      BIGINT NOT NULL,
    removed_at     BIGINT,
    removed_reason TEXT
);
CREATE INDEX previews_parent ON previews (parent, pushed_at);

CREATE TABLE commit_checks (
    project    TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    name       TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project, commit_sha, name)
);

CREATE TABLE github_repos (
    project    TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE deployments ADD COLUMN github_deployment BIGINT;
