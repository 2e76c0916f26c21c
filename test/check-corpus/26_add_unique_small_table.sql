ALTER TABLE countries ADD CONSTRAINT countries_name_key UNIQUE (name);
