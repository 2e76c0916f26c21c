ALTER TABLE orders ADD COLUMN total_dollars numeric GENERATED ALWAYS AS (total_cents / 100.0) STORED;
