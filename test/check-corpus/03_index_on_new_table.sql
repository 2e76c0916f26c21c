CREATE TABLE invoices (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    amount_cents bigint NOT NULL
);
CREATE INDEX invoices_user_idx ON invoices (user_id);
