CREATE OR REPLACE VIEW open_tasks AS
SELECT t.id, p.name AS project, t.title, t.due
  FROM tasks t
  JOIN projects p ON p.id = t.project_id
 WHERE NOT t.done;
