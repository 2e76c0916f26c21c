CREATE INDEX countries_name_idx ON countries (name);
