-- Desired routes as data: what should serve each project. The proxy's table is always rebuilt from
-- these rows (routes::table::from_state); they change in the transaction of the status change that
-- moves traffic.
CREATE TABLE route_targets (
    project         TEXT PRIMARY KEY REFERENCES projects(name) ON DELETE CASCADE,
    traffic         TEXT NOT NULL DEFAULT 'serving',
    message         TEXT,
    rollout_percent INTEGER,
    version         INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);
CREATE TABLE route_members (
    project       TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
    pool          TEXT NOT NULL,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    weight        INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (project, pool, deployment_id)
);
INSERT INTO route_targets (project, traffic, updated_at) SELECT name, 'serving', updated_at FROM projects;
INSERT INTO route_members (project, pool, deployment_id, weight)
    SELECT project, 'active', id, 1 FROM deployments WHERE status = 'ACTIVE';
