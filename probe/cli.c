/* cli.c: wsb-probe's command line: options, usage and their checks. */
#include "cli.h"
#include "check.h"
#include "config.h"
#include "events.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsb-probe --inventory FILE [--once | --interval S [--for T]] [options]\n"
            "       wsb-probe --inventory FILE --check-inventory\n"
            "       wsb-probe [--redis URL] [--prefix P] drain ID | undrain ID\n"
            "\n"
            "Checks every node of the inventory and writes their health and load into\n"
            "Redis, where wsb-handler reads them.\n"
            "\n"
            "  --inventory FILE   the node inventory (JSON; see README)\n"
            "  --once             one round, then exit (the default)\n"
            "  --interval S       a round every S seconds (1..3600) ...\n"
            "  --for T            ... for T seconds (rounds start while less than T s\n"
            "                     have passed); without --for, until SIGTERM\n"
            "  --redis URL        redis://[[user]:pass@]host[:port][/db],\n"
            "                     unix:///path[?db=N&user=U] or\n"
            "                     redis-sentinel://h1:26379,h2:26379/master[?db=N],\n"
            "                     comma-separated for failover\n"
            "                     (default: $WSB_REDIS_URL, else " WSB_DEFAULT_REDIS ")\n"
            "  --prefix P         key prefix (default: $WSB_KEY_PREFIX, else wsb:)\n"
            "  --ttl S            state lifetime in seconds (default: max(180, 3 x interval))\n"
            "  --max-parallel N   transfers at once (default: from the file descriptor\n"
            "                     limit, at most 1024)\n"
            "  --threads N        threads the checks run on (1..64; default: one per CPU,\n"
            "                     at most 8, and one per 1024 transfers at most)\n"
            "  --min-gap S        do nothing when the last round (any probe's) is younger\n"
            "                     than S seconds (several probe hosts on timers)\n"
            "  --events-max N     cap of the events stream <prefix>events (XADD MAXLEN ~;\n"
            "                     default 10000)\n"
            "  --on-change CMD    after each written round (and a drain), run CMD through\n"
            "                     /bin/sh -c once per state change, with WSB_EVENT\n"
            "                     (online, offline, drained, undrained, probe_fault,\n"
            "                     probe_ok), WSB_NODE, WSB_REASON, WSB_AT, WSB_ROUND and\n"
            "                     WSB_PROBE set; stdin /dev/null, stdout to stderr; its\n"
            "                     failure is logged, never fatal\n"
            "  --on-change-timeout S  kill a run of CMD (its process group) after S\n"
            "                     seconds (1..300, default 10); at most 3 x S a round,\n"
            "                     and half the probe lock's lifetime\n"
            "  --log-level L      error, warn, info (default) or debug\n"
            "  --check-inventory  validate the inventory and exit\n"
            "  drain ID           drain node ID at run time (kept by later rounds;\n"
            "                     with --events-max, --on-change)\n"
            "  undrain ID         undo a run-time drain\n"
            "  --help, --version\n"
            "\n"
            "Exit status: 0 done (whatever the nodes' health, or another probe holds the\n"
            "lock, or --min-gap), 1 Redis unreachable or failing, the lock lost or the\n"
            "round fenced off, 2 bad arguments or inventory, 3 a probe fault: some checks\n"
            "could not run, or a round was judged the probe's own fault and not counted.\n"
            "Environment: WSB_REDIS_URL, WSB_REDIS_PASSWORD_FILE, WSB_KEY_PREFIX,\n"
            "WSB_REDIS_CONNECT_TIMEOUT_MS, WSB_REDIS_TIMEOUT_MS, WSB_LOG_LEVEL.\n");
}


/* Takes argument a, with v the next one (NULL when none).  Returns 0 with
 * *takes 1 when v is a's value, 1 when done (--help, --version), or -1 on a
 * usage error (reported). */
static int take_arg(const char *a, const char *v, struct wsb_probe_options *o, int *takes)
{
    *takes = 1;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return 1;
    } else if (strcmp(a, "--version") == 0) {
        printf("wsb-probe %s\n", WSB_VERSION);
        return 1;
    } else if (strcmp(a, "--once") == 0) {
        o->once = 1;
        *takes = 0;
    } else if (strcmp(a, "--check-inventory") == 0) {
        o->check_only = 1;
        *takes = 0;
    } else if (strcmp(a, "--inventory") == 0) {
        o->inventory = v;
    } else if (strcmp(a, "--redis") == 0) {
        o->redis_url = v;
    } else if (strcmp(a, "--prefix") == 0) {
        o->prefix = v;
    } else if (strcmp(a, "--interval") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 3600, &o->interval_s) != 0)
            return -1;
    } else if (strcmp(a, "--for") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 86400 * 366, &o->for_s) != 0)
            return -1;
    } else if (strcmp(a, "--ttl") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 86400 * 30, &o->ttl_s) != 0)
            return -1;
    } else if (strcmp(a, "--min-gap") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 86400, &o->min_gap_s) != 0)
            return -1;
    } else if (strcmp(a, "--max-parallel") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 1000000, &o->max_parallel) != 0)
            return -1;
    } else if (strcmp(a, "--threads") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, WSB_CHECK_THREADS_MAX, &o->threads) != 0)
            return -1;
    } else if (strcmp(a, "--on-change") == 0) {
        o->on_change = v;
        if (v != NULL && v[0] == '\0') {
            fprintf(stderr, "wsb-probe: --on-change: empty command\n");
            return -1;
        }
    } else if (strcmp(a, "--on-change-timeout") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 300, &o->on_change_timeout_s) != 0)
            return -1;
    } else if (strcmp(a, "--events-max") == 0) {
        if (wsb_arg_long("wsb-probe", a, v, 1, 100000000, &o->events_max) != 0)
            return -1;
    } else if (strcmp(a, "--log-level") == 0) {
        if (v == NULL || wsb_log_level_parse(v, &o->level) != WSB_OK) {
            fprintf(stderr, "wsb-probe: --log-level: '%s' is not one of error, warn, info, debug\n",
                    v ? v : "");
            return -1;
        }
    } else if ((strcmp(a, "drain") == 0 || strcmp(a, "undrain") == 0) && o->command == NULL) {
        o->command = a;
        o->command_id = v;
        if (v == NULL) {
            fprintf(stderr, "wsb-probe: %s needs a node id\n", a);
            return -1;
        }
    } else {
        fprintf(stderr, "wsb-probe: unknown argument '%s' (see --help)\n", a);
        return -1;
    }
    return 0;
}

/* Checks what the options say together; 0 or -1 (reported). */
static int check_together(const struct wsb_probe_options *o)
{
    if (o->command != NULL) {
        if (o->once || o->interval_s || o->for_s || o->check_only) {
            fprintf(stderr, "wsb-probe: %s takes only --redis, --prefix, --log-level, --events-max, --on-change and "
                            "--on-change-timeout\n", o->command);
            return -1;
        }
        return 0;
    }
    if (o->inventory == NULL) {
        fprintf(stderr, "wsb-probe: --inventory FILE is required (see --help)\n");
        return -1;
    }
    if (o->once && o->interval_s) {
        fprintf(stderr, "wsb-probe: --once and --interval exclude each other\n");
        return -1;
    }
    if (o->for_s && !o->interval_s) {
        fprintf(stderr, "wsb-probe: --for needs --interval\n");
        return -1;
    }
    return 0;
}

int wsb_probe_cli_parse(int argc, char **argv, struct wsb_probe_options *o)
{
    memset(o, 0, sizeof *o);
    o->level = WSB_LOG_INFO;
    o->on_change_timeout_s = WSB_ON_CHANGE_TIMEOUT_S;
    o->events_max = WSB_EVENTS_MAXLEN;
    const char *level = wsb_env("WSB_LOG_LEVEL");
    if (level != NULL && wsb_log_level_parse(level, &o->level) != WSB_OK) {
        fprintf(stderr, "wsb-probe: WSB_LOG_LEVEL: '%s' is not one of error, warn, info, debug\n", level);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes, done = take_arg(argv[i], v, o, &takes);
        if (done != 0)
            return done;
        if (takes) {
            if (v == NULL) {
                fprintf(stderr, "wsb-probe: %s needs a value\n", argv[i]);
                return -1;
            }
            i++;
        }
    }
    return check_together(o);
}
