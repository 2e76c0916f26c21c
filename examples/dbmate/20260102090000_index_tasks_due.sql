-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY tasks_due_idx ON tasks (due) WHERE NOT done;

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY tasks_due_idx;
