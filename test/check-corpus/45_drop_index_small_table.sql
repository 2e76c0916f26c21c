DROP INDEX countries_name_lower;
