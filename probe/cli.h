/* cli.h: wsb-probe's command line (README "The probe"), its exit statuses
 * and its version. */
#ifndef WSB_PROBE_CLI_H
#define WSB_PROBE_CLI_H

#include "log.h"

/* The version comes from the Makefile, which reads it from debian/changelog
 * (the one place it is written); a build that does not pass it says so. */
#ifndef WSB_VERSION
#define WSB_VERSION "unknown"
#endif

#define WSB_DEFAULT_REDIS "redis://127.0.0.1:6379/0"

/* Exit statuses (README "Exit status"). */
enum wsb_probe_exit {
    WSB_EXIT_DONE = 0,          /* round(s) written, whatever the nodes' health; or lock held elsewhere */
    WSB_EXIT_RUNTIME = 1,       /* Redis unreachable or failing, lock lost */
    WSB_EXIT_USAGE = 2,         /* bad arguments, environment or inventory */
    WSB_EXIT_PROBE_FAULT = 3    /* some checks could not run, or a round was judged the probe's fault (fault.h) */
};

/* The command line as given.  Strings point into argv (or the
 * environment); nothing to free. */
struct wsb_probe_options {
    const char *inventory;
    const char *redis_url;
    const char *prefix;
    const char *command;      /* NULL, "drain" or "undrain" */
    const char *command_id;
    int check_only;
    int once;
    long interval_s;          /* 0: --once */
    long for_s;               /* 0: no limit */
    long ttl_s;               /* 0: default */
    long max_parallel;        /* 0: default */
    long threads;             /* 0: default (run.c: one per CPU, at most 8, and one per
                               * 1024 transfers at most) */
    long min_gap_s;           /* 0: none; else skip a run while the last round is younger */
    const char *on_change;    /* NULL: none; else run through /bin/sh -c per event (events.h) */
    long on_change_timeout_s; /* bound of one run */
    long events_max;          /* cap of <prefix>events */
    enum wsb_log_level level;
};

/* Parses argv (and WSB_LOG_LEVEL) into *o.  Returns 0 to go on; 1 when
 * --help or --version was answered on stdout (done); -1 on a usage error,
 * reported on stderr, with *o unspecified. */
int wsb_probe_cli_parse(int argc, char **argv, struct wsb_probe_options *o);

#endif
