-- GitHub delivery ids already handled, so a redelivery returns the first deployment.
CREATE TABLE webhook_deliveries (
    delivery      TEXT PRIMARY KEY,
    deployment_id BIGINT,
    received_at   BIGINT NOT NULL
);
