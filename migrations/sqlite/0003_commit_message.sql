-- The subject line of the deployed commit, shown by the dashboard beside the short SHA.
ALTER TABLE deployments ADD COLUMN message TEXT;
