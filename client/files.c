/*-------------------------------------------------------------------------
 *
 * files.c
 *	  Reading a directory of migration files, in the format of Flyway,
 *	  dbmate, golang-migrate or migrate's own, into a MigrationSet; their
 *	  placeholders; and the file of the next migration (pg_migrate new).
 *
 * Everything that can be wrong with a directory is found here, before
 * anything is sent to a server: a file that fits no name pattern, two
 * formats mixed, two files for one version, a version migrate cannot order,
 * a down without its up, an unreadable file, a placeholder without a value.
 * Each message names the file.
 *
 * File contents are kept byte for byte: the server's checksum is taken over
 * the definition as written, so what a later run reads must be identical.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pg_migrate.h"

const char *const migration_formats[] = {
	"flyway", "dbmate", "golang-migrate", "migrate", NULL
};

/* Formats as bits; their order in migration_formats[] */
#define FMT_FLYWAY	0
#define FMT_DBMATE	1
#define FMT_GOLANG	2
#define FMT_MIGRATE	3
#define NFORMATS	4

/* The longest version the server accepts (src/version.c) */
#define VERSION_MAX_LEN 200

/* ----------------------------------------------------------------
 * Small helpers: memory, formatted strings, paths, reading files
 * ----------------------------------------------------------------
 */

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "%s: error: out of memory\n", progname);
		exit(1);
	}
	return p;
}

static void *
xrealloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "%s: error: out of memory\n", progname);
		exit(1);
	}
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char	   *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* A malloc'd string made as printf would */
#ifdef __GNUC__
static char *fmt(const char *format,...) __attribute__((format(printf, 1, 2)));
#endif

static char *
fmt(const char *format,...)
{
	va_list		args;
	int			len;
	char	   *buf;

	va_start(args, format);
	len = vsnprintf(NULL, 0, format, args);
	va_end(args);
	buf = xmalloc(len + 1);
	va_start(args, format);
	vsnprintf(buf, len + 1, format, args);
	va_end(args);
	return buf;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s);
	size_t		lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static char *
join_path(const char *dir, const char *file)
{
	if (dir[0] == '\0' || strcmp(dir, ".") == 0)
		return xstrdup(file);
	if (ends_with(dir, "/"))
		return fmt("%s%s", dir, file);
	return fmt("%s/%s", dir, file);
}

/*
 * The whole file, as a string.  A NUL byte cannot be sent as text (libpq
 * and psql would cut the migration short there), so it is an error rather
 * than a silently different definition.
 */
static bool
read_file(const char *path, char **content, char **error)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	size_t		len = 0;
	size_t		cap = 8192;

	if (f == NULL)
	{
		*error = fmt("could not open file \"%s\": %s", path, strerror(errno));
		return false;
	}
	buf = xmalloc(cap);
	for (;;)
	{
		size_t		n;

		if (cap - len < 4096)
		{
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
	{
		*error = fmt("could not read file \"%s\": %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	buf[len] = '\0';
	if (strlen(buf) != len)
	{
		*error = fmt("file \"%s\" contains a NUL byte", path);
		free(buf);
		return false;
	}

	/*
	 * A UTF-8 byte order mark, which some Windows editors write, is not SQL:
	 * the server would fail on it.  Flyway drops it too, before its checksum,
	 * so the registered text is the one Flyway ran.
	 */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		memmove(buf, buf + 3, len - 2);
	*content = buf;
	return true;
}

/* ----------------------------------------------------------------
 * Versions
 * ----------------------------------------------------------------
 */

/* Dot-separated non-negative integers, as the server accepts them */
static bool
valid_version(const char *v)
{
	const char *p = v;

	if (*v == '\0' || strlen(v) > VERSION_MAX_LEN)
		return false;
	for (;;)
	{
		const char *start = p;

		while (isdigit((unsigned char) *p))
			p++;
		if (p == start)
			return false;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
		p++;
	}
}

/*
 * Compare two versions numerically segment by segment, as the server does
 * (src/version.c): segments as digit strings without their leading zeros,
 * the longer one larger; a version that is a prefix of the other sorts
 * first ("1" < "1.0").  -1, 0 or 1.
 */
int
compare_versions(const char *a, const char *b)
{
	for (;;)
	{
		const char *ea;
		const char *eb;
		size_t		la;
		size_t		lb;
		int			c;

		while (*a == '0' && isdigit((unsigned char) a[1]))
			a++;
		while (*b == '0' && isdigit((unsigned char) b[1]))
			b++;
		for (ea = a; isdigit((unsigned char) *ea); ea++)
			;
		for (eb = b; isdigit((unsigned char) *eb); eb++)
			;
		la = ea - a;
		lb = eb - b;
		if (la != lb)
			return la < lb ? -1 : 1;
		c = strncmp(a, b, la);
		if (c != 0)
			return c < 0 ? -1 : 1;
		a = ea;
		b = eb;
		if (*a != '.' || *b != '.')
		{
			if (*a == '.')
				return 1;
			if (*b == '.')
				return -1;
			return 0;
		}
		a++;
		b++;
	}
}

/* How many versioned migrations of the set are at or below target (NULL: all). */
int
set_versioned_upto(const MigrationSet *set, const char *target)
{
	int			n = 0;

	for (int i = 0; i < set->count; i++)
	{
		const Migration *m = &set->items[i];

		if (m->kind != MIG_REPEATABLE &&
			(target == NULL || compare_versions(m->version, target) <= 0))
			n++;
	}
	return n;
}

/* ----------------------------------------------------------------
 * File names of each format
 * ----------------------------------------------------------------
 */

/* What a file name says, in one format */
typedef enum FileRole
{
	ROLE_UP,					/* a versioned migration (or dbmate's file) */
	ROLE_DOWN,					/* its down */
	ROLE_ONLINE,				/* migrate: a .json operations document */
	ROLE_REPEATABLE
} FileRole;

typedef struct FileName
{
	FileRole	role;
	char	   *version;		/* as written, before normalization */
	char	   *name;
} FileName;

/* Strip "suffix" from s when s ends with it and keeps something before it */
static char *
cut_suffix(const char *s, const char *suffix)
{
	size_t		ls = strlen(s);
	size_t		lx = strlen(suffix);

	if (ls <= lx || strcmp(s + ls - lx, suffix) != 0)
		return NULL;
	return xstrndup(s, ls - lx);
}

/*
 * "<version>__<name>": version is what comes before the first "__", made of
 * the characters in "allowed" and starting with a digit; name must not be
 * empty.
 */
static bool
split_version_name(const char *stem, const char *allowed, FileName *fn)
{
	const char *sep = strstr(stem, "__");

	if (sep == NULL || sep == stem || sep[2] == '\0')
		return false;
	if (!isdigit((unsigned char) stem[0]))
		return false;
	for (const char *p = stem; p < sep; p++)
		if (strchr(allowed, *p) == NULL || *p == '\0')
			return false;
	fn->version = xstrndup(stem, sep - stem);
	fn->name = xstrdup(sep + 2);
	return true;
}

/* V<version>__<desc>.sql, U<version>__<desc>.sql, R__<desc>.sql */
static bool
flyway_name(const char *file, FileName *fn)
{
	char	   *stem = cut_suffix(file, ".sql");
	bool		ok = false;

	if (stem == NULL)
		return false;
	if (stem[0] == 'R' && stem[1] == '_' && stem[2] == '_' && stem[3] != '\0')
	{
		fn->role = ROLE_REPEATABLE;
		fn->version = NULL;
		fn->name = xstrdup(stem + 3);
		ok = true;
	}
	else if ((stem[0] == 'V' || stem[0] == 'U') &&
			 split_version_name(stem + 1, "0123456789._", fn))
	{
		fn->role = stem[0] == 'V' ? ROLE_UP : ROLE_DOWN;
		ok = true;
	}
	free(stem);
	return ok;
}

/*
 * A stem <digits>_<name> (dbmate's and golang-migrate's) into fn with the
 * given role; frees the stem.
 */
static bool
digits_name(char *stem, FileRole role, FileName *fn)
{
	const char *p;

	if (stem == NULL)
		return false;
	for (p = stem; isdigit((unsigned char) *p); p++)
		;
	if (p == stem || *p != '_' || p[1] == '\0')
	{
		free(stem);
		return false;
	}
	fn->role = role;
	fn->version = xstrndup(stem, p - stem);
	fn->name = xstrdup(p + 1);
	free(stem);
	return true;
}

/* <digits>_<name>.sql */
static bool
dbmate_name(const char *file, FileName *fn)
{
	return digits_name(cut_suffix(file, ".sql"), ROLE_UP, fn);
}

/* <digits>_<name>.up.sql, <digits>_<name>.down.sql */
static bool
golang_name(const char *file, FileName *fn)
{
	char	   *stem = cut_suffix(file, ".up.sql");

	if (stem != NULL)
		return digits_name(stem, ROLE_UP, fn);
	return digits_name(cut_suffix(file, ".down.sql"), ROLE_DOWN, fn);
}

/*
 * <version>__<name>.sql, <version>__<name>.down.sql, <version>__<name>.json,
 * R__<name>.sql
 */
static bool
migrate_name(const char *file, FileName *fn)
{
	char	   *stem;
	bool		ok = false;

	if ((stem = cut_suffix(file, ".json")) != NULL)
	{
		ok = split_version_name(stem, "0123456789.", fn);
		fn->role = ROLE_ONLINE;
	}
	else if ((stem = cut_suffix(file, ".down.sql")) != NULL)
	{
		ok = split_version_name(stem, "0123456789.", fn);
		fn->role = ROLE_DOWN;
	}
	else if ((stem = cut_suffix(file, ".sql")) != NULL)
	{
		if (stem[0] == 'R' && stem[1] == '_' && stem[2] == '_' && stem[3] != '\0')
		{
			fn->role = ROLE_REPEATABLE;
			fn->version = NULL;
			fn->name = xstrdup(stem + 3);
			ok = true;
		}
		else
		{
			ok = split_version_name(stem, "0123456789.", fn);
			fn->role = ROLE_UP;
		}
	}
	free(stem);
	return ok;
}

static bool
format_name(int format, const char *file, FileName *fn)
{
	memset(fn, 0, sizeof(*fn));
	switch (format)
	{
		case FMT_FLYWAY:
			return flyway_name(file, fn);
		case FMT_DBMATE:
			return dbmate_name(file, fn);
		case FMT_GOLANG:
			return golang_name(file, fn);
		default:
			return migrate_name(file, fn);
	}
}

/* ----------------------------------------------------------------
 * dbmate's sections
 * ----------------------------------------------------------------
 */

/*
 * The start of the first line of text that is a marker "-- migrate:<word>"
 * (dbmate allows no or several spaces after the dashes), or NULL.  *rest
 * is set to what follows the word on that line: its options.
 */
static const char *
find_marker(const char *str, const char *word, const char **rest)
{
	const char *line = str;
	size_t		wl = strlen(word);

	while (line && *line)
	{
		const char *p = line;

		if (p[0] == '-' && p[1] == '-')
		{
			p += 2;
			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, "migrate:", 8) == 0 &&
				strncmp(p + 8, word, wl) == 0 &&
				(p[8 + wl] == '\0' || isspace((unsigned char) p[8 + wl])))
			{
				*rest = p + 8 + wl;
				return line;
			}
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

static bool
has_dbmate_marker(const char *str)
{
	const char *rest;

	return find_marker(str, "up", &rest) != NULL;
}

/* Whether the marker line's options (the rest of it) say transaction:false */
static bool
marker_transactional(const char *rest)
{
	const char *eol = strchr(rest, '\n');
	size_t		len = eol ? (size_t) (eol - rest) : strlen(rest);
	char	   *opts = xstrndup(rest, len);
	bool		result = true;
	char	   *tok;

	for (tok = strtok(opts, " \t\r"); tok; tok = strtok(NULL, " \t\r"))
		if (strcmp(tok, "transaction:false") == 0)
			result = false;
	free(opts);
	return result;
}

static bool
only_space(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

/* The start of the line after the one p is on (or the end of the text) */
static const char *
next_line(const char *p)
{
	const char *eol = strchr(p, '\n');

	return eol ? eol + 1 : p + strlen(p);
}

/*
 * Split a dbmate file into its up and down sections: what follows the
 * marker lines, as written.  Options on the "-- migrate:up" line decide
 * for the whole migration (it has one transactional flag).
 */
static bool
dbmate_sections(const char *path, const char *str, char **up, char **down,
				bool *transactional, char **error)
{
	const char *up_rest;
	const char *down_rest;
	const char *other;
	const char *up_marker = find_marker(str, "up", &up_rest);
	const char *down_marker = find_marker(str, "down", &down_rest);
	const char *up_start;

	if (up_marker == NULL)
	{
		*error = fmt("file \"%s\" has no \"-- migrate:up\" line", path);
		return false;
	}
	if (down_marker && down_marker < up_marker)
	{
		*error = fmt("file \"%s\" has \"-- migrate:down\" before \"-- migrate:up\"",
					 path);
		return false;
	}
	if (find_marker(next_line(up_marker), "up", &other) != NULL ||
		(down_marker && find_marker(next_line(down_marker), "down", &other) != NULL))
	{
		*error = fmt("file \"%s\" has more than one \"-- migrate:up\" or \"-- migrate:down\" line",
					 path);
		return false;
	}

	*transactional = marker_transactional(up_rest);
	up_start = next_line(up_marker);
	if (down_marker)
	{
		const char *down_start = next_line(down_marker);

		*up = xstrndup(up_start, down_marker - up_start);
		*down = only_space(down_start) ? NULL : xstrdup(down_start);
	}
	else
	{
		*up = xstrdup(up_start);
		*down = NULL;
	}
	return true;
}

/* ----------------------------------------------------------------
 * Flyway's per-file configuration: <file>.sql.conf
 * ----------------------------------------------------------------
 */

/* executeInTransaction=false in a .conf file: false; else true */
static bool
flyway_conf_transactional(const char *str)
{
	const char *line = str;
	bool		result = true;

	while (line && *line)
	{
		const char *eol = strchr(line, '\n');
		size_t		len = eol ? (size_t) (eol - line) : strlen(line);
		char	   *l = xstrndup(line, len);
		char	   *key = l;
		char	   *eq = strchr(l, '=');

		if (eq)
		{
			char	   *value = eq + 1;
			char	   *end;

			*eq = '\0';
			while (isspace((unsigned char) *key))
				key++;
			for (end = eq; end > key && isspace((unsigned char) end[-1]); end--)
				end[-1] = '\0';
			while (isspace((unsigned char) *value))
				value++;
			for (end = value + strlen(value);
				 end > value && isspace((unsigned char) end[-1]); end--)
				end[-1] = '\0';
			if (strcmp(key, "executeInTransaction") == 0)
				result = strcmp(value, "false") != 0;
		}
		free(l);
		line = eol ? eol + 1 : NULL;
	}
	return result;
}

/* ----------------------------------------------------------------
 * The directory
 * ----------------------------------------------------------------
 */

typedef struct DirFile
{
	char	   *file;			/* name in the directory */
	char	   *path;			/* as the user will recognise it */
	char	   *content;		/* read on demand */
	bool		names[NFORMATS];	/* fits this format's name patterns */
	bool		detect[NFORMATS];	/* counts as this format in detection */
} DirFile;

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The names of the directory's candidate files, sorted: the directory is
 * not recursed, hidden files are skipped, and only .sql, .json and .conf
 * files are migration files.
 */
static bool
list_directory(const char *dir, char ***files, int *nfiles, char **error)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			n = 0;
	int			cap = 32;
	char	  **list;

	if (d == NULL)
	{
		*error = fmt("could not open directory \"%s\": %s", dir, strerror(errno));
		return false;
	}
	list = xmalloc(sizeof(char *) * cap);
	errno = 0;
	while ((de = readdir(d)) != NULL)
	{
		char	   *path;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (!ends_with(de->d_name, ".sql") && !ends_with(de->d_name, ".json") &&
			!ends_with(de->d_name, ".conf"))
			continue;
		path = join_path(dir, de->d_name);
		if (stat(path, &st) != 0)
		{
			*error = fmt("could not stat file \"%s\": %s", path, strerror(errno));
			closedir(d);
			return false;
		}
		if (S_ISDIR(st.st_mode))
		{
			free(path);
			continue;
		}

		/*
		 * A FIFO would block the read forever, a device (a symlink to
		 * /dev/zero) never end it: only regular files are migrations.
		 */
		if (!S_ISREG(st.st_mode))
		{
			*error = fmt("file \"%s\" is not a regular file", path);
			closedir(d);
			return false;
		}
		free(path);
		if (n == cap)
		{
			cap *= 2;
			list = xrealloc(list, sizeof(char *) * cap);
		}
		list[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno != 0)
	{
		*error = fmt("could not read directory \"%s\": %s", dir, strerror(errno));
		closedir(d);
		return false;
	}
	closedir(d);
	qsort(list, n, sizeof(char *), cmp_str);
	*files = list;
	*nfiles = n;
	return true;
}

static int
format_number(const char *format)
{
	for (int i = 0; migration_formats[i]; i++)
		if (strcmp(migration_formats[i], format) == 0)
			return i;
	return -1;
}

/*
 * Which format the files are in.  Each .sql/.json file counts for every
 * format whose name patterns it fits, except that a name dbmate shares with
 * another format ("1_x.up.sql", "1__x.sql") counts as dbmate only when the
 * file has dbmate's "-- migrate:up" line.  The format every file fits wins
 * (dbmate first: its marker is the most specific sign, then migrate,
 * flyway, golang-migrate).  When none fits all of them, the message names a
 * file that fits no pattern of the format most files are in, or two files
 * of different formats.
 */
static bool
detect_format(DirFile *files, int n, int *format, char **error)
{
	static const int priority[NFORMATS] = {FMT_DBMATE, FMT_MIGRATE, FMT_FLYWAY, FMT_GOLANG};
	int			counts[NFORMATS] = {0};
	int			nfiles = 0;
	int			best = -1;

	for (int i = 0; i < n; i++)
	{
		if (ends_with(files[i].file, ".conf"))
			continue;
		nfiles++;
		for (int f = 0; f < NFORMATS; f++)
			if (files[i].detect[f])
				counts[f]++;
	}
	if (nfiles == 0)
	{
		*format = FMT_MIGRATE;
		return true;
	}
	for (int k = 0; k < NFORMATS; k++)
	{
		if (counts[priority[k]] == nfiles)
		{
			*format = priority[k];
			return true;
		}
		if (best < 0 || counts[priority[k]] > counts[best])
			best = priority[k];
	}

	for (int i = 0; i < n; i++)
	{
		DirFile    *odd = &files[i];
		int			other = -1;

		if (ends_with(odd->file, ".conf") || odd->detect[best])
			continue;
		for (int k = 0; k < NFORMATS && other < 0; k++)
			if (odd->detect[priority[k]])
				other = priority[k];
		if (other < 0 && counts[best] == 0)
		{
			*error = fmt("file \"%s\" matches no file name pattern of any format",
						 odd->path);
			return false;
		}
		if (other < 0)
		{
			*error = fmt("file \"%s\" matches no file name pattern of any format (most files are %s files)",
						 odd->path, migration_formats[best]);
			return false;
		}
		for (int j = 0; j < n; j++)
		{
			if (ends_with(files[j].file, ".conf"))
				continue;
			if (files[j].detect[best] && !files[j].detect[other])
			{
				*error = fmt("files of two formats mixed: \"%s\" is a %s file, \"%s\" a %s file",
							 files[j].path, migration_formats[best],
							 odd->path, migration_formats[other]);
				return false;
			}
		}
		/* cannot happen: best fits more files than other */
		*error = fmt("file \"%s\" is not a %s file",
					 odd->path, migration_formats[best]);
		return false;
	}
	*error = fmt("cannot tell the format of the files");	/* not reached */
	return false;
}

/* A migration being assembled from its files */
typedef struct Builder
{
	Migration  *items;
	int			count;
	int			cap;
} Builder;

static Migration *
builder_find(Builder *b, MigrationKind kind, const char *version,
			 const char *name)
{
	for (int i = 0; i < b->count; i++)
	{
		Migration  *m = &b->items[i];

		if (kind == MIG_REPEATABLE)
		{
			if (m->kind == MIG_REPEATABLE && strcmp(m->name, name) == 0)
				return m;
		}
		else if (m->kind != MIG_REPEATABLE &&
				 compare_versions(m->version, version) == 0)
			return m;
	}
	return NULL;
}

static Migration *
builder_add(Builder *b)
{
	if (b->count == b->cap)
	{
		b->cap = b->cap ? b->cap * 2 : 16;
		b->items = xrealloc(b->items, sizeof(Migration) * b->cap);
	}
	memset(&b->items[b->count], 0, sizeof(Migration));
	b->items[b->count].transactional = true;
	return &b->items[b->count++];
}

static int
cmp_migrations(const void *pa, const void *pb)
{
	const Migration *a = pa;
	const Migration *b = pb;

	if (a->kind == MIG_REPEATABLE || b->kind == MIG_REPEATABLE)
	{
		if (a->kind != b->kind)
			return a->kind == MIG_REPEATABLE ? 1 : -1;
		return strcmp(a->name, b->name);
	}
	return compare_versions(a->version, b->version);
}

/* flyway reads "_" in a description as a space */
static char *
flyway_description(const char *s)
{
	char	   *d = xstrdup(s);

	for (char *p = d; *p; p++)
		if (*p == '_')
			*p = ' ';
	return d;
}

/*
 * Read one migration file into the builder, by its role in the format.
 */
static bool
add_file(Builder *b, int format, DirFile *df, const FileName *fn,
		 char **error)
{
	char	   *version = NULL;
	char	   *name;
	Migration  *m;
	MigrationKind kind;

	if (fn->version)
	{
		version = xstrdup(fn->version);
		if (format == FMT_FLYWAY)
			for (char *p = version; *p; p++)
				if (*p == '_')
					*p = '.';
		if (!valid_version(version))
		{
			*error = fmt("file \"%s\": version \"%s\" is not dot-separated non-negative integers",
						 df->path, fn->version);
			return false;
		}
	}
	name = format == FMT_FLYWAY ? flyway_description(fn->name) : xstrdup(fn->name);
	if (!read_file(df->path, &df->content, error))
		return false;

	kind = fn->role == ROLE_REPEATABLE ? MIG_REPEATABLE :
		fn->role == ROLE_ONLINE ? MIG_ONLINE : MIG_SQL;
	m = builder_find(b, kind, version, name);

	if (fn->role == ROLE_DOWN)
	{
		if (m == NULL)
		{
			m = builder_add(b);
			m->kind = MIG_SQL;
			m->version = version;
			m->name = name;
		}
		else if (m->down_path)
		{
			*error = fmt("two files for the down of version %s: \"%s\" and \"%s\"",
						 version, m->down_path, df->path);
			return false;
		}
		m->down = df->content;
		m->down_path = df->path;
		return true;
	}

	if (m && m->path)
	{
		if (kind == MIG_REPEATABLE)
			*error = fmt("two files for repeatable migration \"%s\": \"%s\" and \"%s\"",
						 name, m->path, df->path);
		else
			*error = fmt("two files for version %s: \"%s\" and \"%s\"",
						 version, m->path, df->path);
		return false;
	}
	if (m == NULL)
		m = builder_add(b);
	free(m->name);				/* the up's name wins over its down's */
	m->name = name;
	m->kind = kind;
	if (m->version == NULL)
		m->version = version;
	m->path = df->path;

	switch (format)
	{
		case FMT_DBMATE:
			{
				char	   *up;
				char	   *down;

				if (!dbmate_sections(df->path, df->content, &up, &down,
									 &m->transactional, error))
					return false;
				m->up = up;
				m->down = down;
				if (down)
					m->down_path = df->path;
				break;
			}
		case FMT_MIGRATE:
			if (kind == MIG_ONLINE)
				m->operations = df->content;
			else
			{
				m->up = df->content;
				if (kind == MIG_SQL &&
					strncmp(df->content, "-- migrate:no-transaction", 25) == 0 &&
					(df->content[25] == '\0' ||
					 isspace((unsigned char) df->content[25])))
					m->transactional = false;
			}
			break;
		default:
			m->up = df->content;
			break;
	}
	return true;
}

/*
 * Read the migrations of a directory (not recursed) in the given format, or
 * the one its files are in when format is NULL.  On error, *error is a
 * malloc'd message naming the file, and set is left empty.
 */
bool
load_migrations(const char *dir, const char *format, MigrationSet *set,
				char **error)
{
	char	  **names;
	int			n;
	DirFile    *files;
	int			fmtno = FMT_MIGRATE;
	Builder		b = {NULL, 0, 0};

	set->format = NULL;
	set->items = NULL;
	set->count = 0;
	*error = NULL;

	if (format)
	{
		fmtno = format_number(format);
		if (fmtno < 0)
		{
			*error = fmt("unknown format \"%s\" (flyway, dbmate, golang-migrate or migrate)",
						 format);
			return false;
		}
	}
	if (!list_directory(dir, &names, &n, error))
		return false;

	files = xmalloc(sizeof(DirFile) * (n ? n : 1));
	memset(files, 0, sizeof(DirFile) * (n ? n : 1));
	for (int i = 0; i < n; i++)
	{
		DirFile    *df = &files[i];
		int			fits = 0;

		df->file = names[i];
		df->path = join_path(dir, names[i]);
		if (ends_with(df->file, ".conf"))
			continue;
		for (int f = 0; f < NFORMATS; f++)
		{
			FileName	fn;

			df->names[f] = format_name(f, df->file, &fn);
			df->detect[f] = df->names[f];
			if (df->names[f])
				fits++;
		}

		/*
		 * A name that dbmate shares with another format is dbmate's only with
		 * its marker; reading every .sql file for it would be a waste when
		 * the name alone decides.
		 */
		if (format == NULL && df->names[FMT_DBMATE] && fits > 1)
		{
			char	   *content;

			if (!read_file(df->path, &content, error))
				return false;
			df->detect[FMT_DBMATE] = has_dbmate_marker(content);
			free(content);
		}
	}

	if (format == NULL && !detect_format(files, n, &fmtno, error))
		return false;

	for (int i = 0; i < n; i++)
	{
		DirFile    *df = &files[i];
		FileName	fn;

		if (ends_with(df->file, ".conf"))
			continue;
		if (!format_name(fmtno, df->file, &fn))
		{
			*error = fmt("file \"%s\" matches no file name pattern of the %s format",
						 df->path, migration_formats[fmtno]);
			return false;
		}
		if (!add_file(&b, fmtno, df, &fn, error))
			return false;
	}

	for (int i = 0; i < b.count; i++)
	{
		Migration  *m = &b.items[i];

		if (m->path == NULL)
		{
			*error = fmt("file \"%s\" is the down of version %s, which has no up file",
						 m->down_path, m->version);
			return false;
		}
		if (m->kind == MIG_ONLINE && m->down_path)
		{
			*error = fmt("file \"%s\": online migration %s has no down file (migrate_rollback undoes it)",
						 m->down_path, m->version);
			return false;
		}
		if (m->kind == MIG_REPEATABLE && m->down_path)
		{
			*error = fmt("file \"%s\": a repeatable migration has no down",
						 m->down_path);
			return false;
		}
	}

	/* flyway: <file>.sql.conf configures <file>.sql */
	if (fmtno == FMT_FLYWAY)
	{
		for (int i = 0; i < n; i++)
		{
			DirFile    *df = &files[i];
			char	   *sqlfile = cut_suffix(df->file, ".conf");
			char	   *sqlpath;
			Migration  *m = NULL;
			char	   *content;

			if (sqlfile == NULL || !ends_with(sqlfile, ".sql"))
			{
				free(sqlfile);
				continue;		/* flyway.conf and the like */
			}
			sqlpath = join_path(dir, sqlfile);
			for (int j = 0; j < b.count && m == NULL; j++)
				if (strcmp(b.items[j].path, sqlpath) == 0 &&
					b.items[j].kind == MIG_SQL)
					m = &b.items[j];
			free(sqlpath);
			if (m == NULL)
			{
				*error = fmt("file \"%s\" configures \"%s\", which is not a versioned migration file of the directory",
							 df->path, sqlfile);
				return false;
			}
			if (!read_file(df->path, &content, error))
				return false;
			m->transactional = flyway_conf_transactional(content);
			free(content);
			free(sqlfile);
		}
	}

	if (b.count > 0)
		qsort(b.items, b.count, sizeof(Migration), cmp_migrations);
	set->format = migration_formats[fmtno];
	set->items = b.items;
	set->count = b.count;
	return true;
}

/* ----------------------------------------------------------------
 * Placeholders
 * ----------------------------------------------------------------
 */

/* [A-Za-z_], whatever the locale says */
#define NAME_START(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z') || (c) == '_')

typedef struct NameList
{
	char	  **names;
	int			count;
	int			cap;
} NameList;

/*
 * Add the names of the ${name}s in sql (name: [A-Za-z_][A-Za-z0-9_]*) to
 * list, once each.  Anything else after a "$" is left alone, as the server
 * leaves it.
 */
static void
collect_placeholders(const char *sql, NameList *list)
{
	const char *p = sql;

	while (sql && (p = strstr(p, "${")) != NULL)
	{
		const char *start = p + 2;
		const char *q = start;
		bool		seen = false;
		char	   *name;

		if (!NAME_START(*q))
		{
			p += 2;
			continue;
		}
		while (NAME_START(*q) || (*q >= '0' && *q <= '9'))
			q++;
		if (*q != '}')
		{
			p = q;
			continue;
		}
		name = xstrndup(start, q - start);
		for (int i = 0; i < list->count && !seen; i++)
			seen = strcmp(list->names[i], name) == 0;
		if (seen)
			free(name);
		else
		{
			if (list->count == list->cap)
			{
				list->cap = list->cap ? list->cap * 2 : 8;
				list->names = xrealloc(list->names, sizeof(char *) * list->cap);
			}
			list->names[list->count++] = name;
		}
		p = q + 1;
	}
}

/* The value of a placeholder: the first -v, else PG_MIGRATE_<NAME> */
static const char *
placeholder_value(const char *name, const PlaceholderValues *values)
{
	char	   *var;
	const char *value;

	for (int i = 0; values && i < values->count; i++)
		if (strcmp(values->names[i], name) == 0)
			return values->values[i];
	var = fmt("PG_MIGRATE_%s", name);
	for (char *p = var; *p; p++)
		*p = toupper((unsigned char) *p);
	value = getenv(var);
	free(var);
	return value;
}

/* s as a JSON string, appended to buf */
static char *
json_append_string(char *buf, const char *s)
{
	size_t		len = strlen(buf);
	size_t		cap = len + strlen(s) * 6 + 3;
	char	   *out = xrealloc(buf, cap);
	char	   *p = out + len;

	*p++ = '"';
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
		{
			*p++ = '\\';
			*p++ = c;
		}
		else if (c == '\n')
		{
			*p++ = '\\';
			*p++ = 'n';
		}
		else if (c == '\t')
		{
			*p++ = '\\';
			*p++ = 't';
		}
		else if (c < 0x20)
			p += sprintf(p, "\\u%04x", c);
		else
			*p++ = c;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Give each SQL and repeatable migration the values of the ${name}s its up
 * and down use, as a JSON object (names in C order; NULL when it uses
 * none).  The SQL itself is left as written: the server substitutes at
 * execution, and takes its checksum over the text as written.  False, with
 * a message naming the file and the placeholder, when one has no value.
 */
bool
resolve_placeholders(MigrationSet *set, const PlaceholderValues *values,
					 char **error)
{
	*error = NULL;
	for (int i = 0; i < set->count; i++)
	{
		Migration  *m = &set->items[i];
		NameList	up = {NULL, 0, 0};
		NameList	all = {NULL, 0, 0};
		char	   *json;

		m->placeholders = NULL;
		if (m->kind == MIG_ONLINE)
			continue;
		collect_placeholders(m->up, &up);
		collect_placeholders(m->up, &all);
		collect_placeholders(m->down, &all);
		if (all.count == 0)
			continue;

		qsort(all.names, all.count, sizeof(char *), cmp_name);
		json = xstrdup("{");
		for (int j = 0; j < all.count; j++)
		{
			const char *name = all.names[j];
			const char *value = placeholder_value(name, values);
			size_t		len;

			if (value == NULL)
			{
				bool		in_up = false;
				char	   *upper = xstrdup(name);

				for (int k = 0; k < up.count; k++)
					in_up = in_up || strcmp(up.names[k], name) == 0;
				for (char *p = upper; *p; p++)
					*p = toupper((unsigned char) *p);
				*error = fmt("file \"%s\": placeholder \"${%s}\" has no value (give one with -v %s=VALUE or the environment variable PG_MIGRATE_%s)",
							 in_up || m->down_path == NULL ? m->path : m->down_path,
							 name, name, upper);
				free(upper);
				free(json);
				return false;
			}
			if (j > 0)
			{
				len = strlen(json);
				json = xrealloc(json, len + 3);
				strcpy(json + len, ", ");
			}
			json = json_append_string(json, name);
			len = strlen(json);
			json = xrealloc(json, len + 3);
			strcpy(json + len, ": ");
			json = json_append_string(json, value);
		}
		json = xrealloc(json, strlen(json) + 2);
		strcat(json, "}");
		m->placeholders = json;
	}
	return true;
}

/* ----------------------------------------------------------------
 * The next migration: pg_migrate new
 * ----------------------------------------------------------------
 */

/* A digit string plus one, keeping its width ("0009" -> "0010") */
static char *
increment_digits(const char *digits)
{
	size_t		len = strlen(digits);
	char	   *r = xmalloc(len + 2);
	int			i;

	memcpy(r + 1, digits, len + 1);
	r[0] = '0';
	for (i = (int) len; i >= 1; i--)
	{
		if (r[i] != '9')
		{
			r[i]++;
			break;
		}
		r[i] = '0';
	}
	if (i == 0)
		r[0] = '1';
	if (r[0] == '0')
		memmove(r, r + 1, len + 1);
	return r;
}

/*
 * The version of the next migration: a 14-digit UTC timestamp where the
 * directory already uses them (its highest version's first segment has 14
 * digits), and for dbmate and golang-migrate in an empty directory (their
 * own tools' convention); else the highest version's first segment plus
 * one, keeping its zero padding, or "0001" (migrate) and "1" (flyway) in an
 * empty directory.
 */
static char *
next_version(const MigrationSet *set, int format)
{
	const char *highest = NULL;
	char	   *first;
	char		stamp[32];
	time_t		now = time(NULL);
	struct tm  *tm = gmtime(&now);

	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", tm);
	for (int i = 0; i < set->count; i++)
		if (set->items[i].kind != MIG_REPEATABLE)
			highest = set->items[i].version;	/* sorted: the last one */

	if (highest == NULL)
	{
		if (format == FMT_DBMATE || format == FMT_GOLANG)
			return xstrdup(stamp);
		return xstrdup(format == FMT_MIGRATE ? "0001" : "1");
	}

	first = xstrndup(highest, strcspn(highest, "."));
	if (strlen(first) == 14 && compare_versions(stamp, first) > 0)
	{
		free(first);
		return xstrdup(stamp);
	}
	{
		char	   *next = increment_digits(first);

		free(first);
		return next;
	}
}

/* Create a new file; never overwrite one */
static bool
create_file(const char *path, const char *content, char **error)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	size_t		len = strlen(content);

	if (fd < 0)
	{
		*error = fmt("could not create file \"%s\": %s", path, strerror(errno));
		return false;
	}
	if (len > 0 && write(fd, content, len) != (ssize_t) len)
	{
		*error = fmt("could not write file \"%s\": %s", path,
					 errno ? strerror(errno) : "short write");
		close(fd);
		return false;
	}
	if (close(fd) != 0)
	{
		*error = fmt("could not write file \"%s\": %s", path, strerror(errno));
		return false;
	}
	return true;
}

bool
new_migration(const char *dir, const char *format, const char *name,
			  char **path, char **error)
{
	return new_migration_ex(dir, format, name, false, true, path, error);
}

/*
 * Create the file(s) of the next migration in dir, in its format (format
 * NULL: the one its files are in, migrate in an empty directory).  online:
 * an online migration (migrate's .json, an empty operations array);
 * transactional false: marked to run outside a transaction.  *path is the
 * file to edit.
 */
bool
new_migration_ex(const char *dir, const char *format, const char *name,
				 bool online, bool transactional, char **path,
				 char **error)
{
	MigrationSet set;
	int			fmtno;
	char	   *version;
	char	   *stem;
	char	   *file = NULL;

	*path = NULL;
	*error = NULL;
	if (name == NULL || name[0] == '\0')
	{
		*error = fmt("the name of the new migration must not be empty");
		return false;
	}
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\' || iscntrl((unsigned char) *p))
		{
			*error = fmt("the name of the new migration must not contain \"/\", \"\\\" or control characters: \"%s\"",
						 name);
			return false;
		}
	if (name[0] == '.')
	{
		*error = fmt("the name of the new migration must not start with \".\": \"%s\"",
					 name);
		return false;
	}
	if (!load_migrations(dir, format, &set, error))
		return false;
	fmtno = format_number(set.format);

	if (online && fmtno != FMT_MIGRATE)
	{
		*error = fmt("online migrations (.json) exist only in the migrate format, not in %s",
					 set.format);
		return false;
	}
	if (online && !transactional)
	{
		*error = fmt("an online migration cannot be marked non-transactional: its background part runs outside the transaction anyway");
		return false;
	}
	if (!transactional && fmtno == FMT_GOLANG)
	{
		*error = fmt("the golang-migrate format has no mark for non-transactional migrations; use the migrate format");
		return false;
	}

	version = next_version(&set, fmtno);
	stem = xstrdup(name);
	for (char *p = stem; *p; p++)
		if (*p == ' ')
			*p = '_';

	switch (fmtno)
	{
		case FMT_FLYWAY:
			file = fmt("V%s__%s.sql", version, stem);
			*path = join_path(dir, file);
			if (!create_file(*path, "", error))
				return false;
			if (!transactional)
			{
				char	   *conf = fmt("%s.conf", *path);

				if (!create_file(conf, "executeInTransaction=false\n", error))
					return false;
			}
			break;
		case FMT_DBMATE:
			file = fmt("%s_%s.sql", version, stem);
			*path = join_path(dir, file);
			if (!create_file(*path,
							 transactional ?
							 "-- migrate:up\n\n\n-- migrate:down\n\n" :
							 "-- migrate:up transaction:false\n\n\n-- migrate:down\n\n",
							 error))
				return false;
			break;
		case FMT_GOLANG:
			{
				char	   *down = join_path(dir, fmt("%s_%s.down.sql", version, stem));

				file = fmt("%s_%s.up.sql", version, stem);
				*path = join_path(dir, file);
				if (!create_file(*path, "", error) ||
					!create_file(down, "", error))
					return false;
				break;
			}
		default:
			file = fmt(online ? "%s__%s.json" : "%s__%s.sql", version, stem);
			*path = join_path(dir, file);
			if (!create_file(*path,
							 online ? "[]\n" :
							 transactional ? "" : "-- migrate:no-transaction\n",
							 error))
				return false;
			break;
	}
	return true;
}
