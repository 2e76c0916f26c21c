-- migrate:no-transaction
CREATE INDEX CONCURRENTLY tasks_due_idx ON tasks (due) WHERE NOT done;
