CREATE TABLE webhooks (
    id bigint PRIMARY KEY,
    url text NOT NULL,
    payload json,
    received_at timestamp
);
