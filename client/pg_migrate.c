#include <stdio.h>
#include "libpq-fe.h"
#include "pg_migrate.h"
int main(int argc, char **argv){ printf("%d\n", PQlibVersion()); return 0; }
