/*
 * A temporary main for the commands that need no server (script, new),
 * until the real one (options, every command) replaces this file.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_migrate.h"

int
main(int argc, char **argv)
{
	const char *format = NULL;
	const char *target = NULL;
	bool		online = false;
	bool		transactional = true;
	PlaceholderValues values = {NULL, NULL, 0};
	const char *args[8];
	int			nargs = 0;
	char	   *error = NULL;

	values.names = calloc(argc, sizeof(char *));
	values.values = calloc(argc, sizeof(char *));
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--format") == 0 && i + 1 < argc)
			format = argv[++i];
		else if (strcmp(a, "--target") == 0 && i + 1 < argc)
			target = argv[++i];
		else if ((strcmp(a, "-v") == 0 || strcmp(a, "--set") == 0) && i + 1 < argc)
		{
			char	   *nv = strdup(argv[++i]);
			char	   *eq = strchr(nv, '=');

			if (eq == NULL)
			{
				fprintf(stderr, "%s: error: -v needs NAME=VALUE\n", progname);
				return 1;
			}
			*eq = '\0';
			values.names[values.count] = nv;
			values.values[values.count++] = eq + 1;
		}
		else if (strcmp(a, "--online") == 0)
			online = true;
		else if (strcmp(a, "--no-transaction") == 0)
			transactional = false;
		else if (nargs < 8)
			args[nargs++] = a;
	}
	if (nargs >= 2 && strcmp(args[0], "script") == 0)
	{
		MigrationSet set;

		if (!load_migrations(args[1], format, &set, &error) ||
			!resolve_placeholders(&set, &values, &error))
		{
			fprintf(stderr, "%s: error: %s\n", progname, error);
			return 1;
		}
		print_script(stdout, &set, target);
		return 0;
	}
	if (nargs >= 2 && strcmp(args[0], "new") == 0)
	{
		char	   *path;

		if (!new_migration_ex(nargs >= 3 ? args[2] : ".", format, args[1],
							  online, transactional, &path, &error))
		{
			fprintf(stderr, "%s: error: %s\n", progname, error);
			return 1;
		}
		printf("%s\n", path);
		return 0;
	}
	fprintf(stderr, "%s: error: usage: pg_migrate script DIR | new NAME [DIR]\n", progname);
	return 1;
}
