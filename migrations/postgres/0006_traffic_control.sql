-- Traffic control: how long a paused project holds a request, and a deployment's canary share.
ALTER TABLE route_targets ADD COLUMN pause_timeout_s BIGINT;
ALTER TABLE deployments ADD COLUMN canary_percent BIGINT;
