CREATE TABLE carts (id bigint PRIMARY KEY, user_id int, note text);
ALTER TABLE carts ALTER COLUMN user_id TYPE bigint;
ALTER TABLE carts ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE carts ADD CONSTRAINT carts_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
CREATE INDEX carts_user_idx ON carts (user_id);
ALTER TABLE carts DROP COLUMN note;
