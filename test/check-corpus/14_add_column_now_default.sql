ALTER TABLE users ADD COLUMN updated_at timestamptz DEFAULT now();
