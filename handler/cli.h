/* cli.h: wsb-handler's command line. */
#ifndef WSB_CLI_H
#define WSB_CLI_H

#include <stdio.h>

/* The version comes from the Makefile, which reads it from debian/changelog
 * (the one place it is written); a build that does not pass it says so. */
#ifndef WSB_VERSION
#define WSB_VERSION "unknown"
#endif

#define WSB_MAX_WORKERS 1024
#define WSB_MAX_THREADS 256

struct wsb_options {
    int check;
    const char *listen;       /* NULL: standard input */
    long socket_mode;         /* -1: leave as the umask made it */
    long workers;             /* 0: no pool */
    long threads;
    const char *explain;      /* --explain ADDRESS: the client address, NULL when not asked */
    unsigned explain_version; /* --explain's vN (default 1) */
    int json;                 /* --json: --explain's answer as one JSON object */
};

/* Writes the --help text to f. */
void wsb_cli_usage(FILE *f);

/* Fills *o from the arguments.  Returns 0 to go on, 1 when done (--help,
 * --version: printed on stdout), -1 on a usage error (reported on stderr,
 * naming the option). */
int wsb_cli_parse(int argc, char **argv, struct wsb_options *o);

#endif
