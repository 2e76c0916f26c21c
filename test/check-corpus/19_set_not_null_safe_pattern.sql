ALTER TABLE orders ADD CONSTRAINT orders_placed_at_nn CHECK (placed_at IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_placed_at_nn;
ALTER TABLE orders ALTER COLUMN placed_at SET NOT NULL;
