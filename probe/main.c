/* main.c: wsb-probe, the program that checks every node of the inventory
 * and writes their health and load into Redis (README "The probe"). */
#include "config.h"
#include "inventory.h"
#include "log.h"
#include "redis.h"
#include "round.h"
#include "lock.h"
#include "state_read.h"
#include "state_write.h"
#include "status.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

/* Exit statuses (README "Exit status"). */
enum {
    EXIT_DONE = 0,          /* round(s) written, whatever the nodes' health; or lock held elsewhere */
    EXIT_RUNTIME = 1,       /* Redis unreachable or failing, lock lost */
    EXIT_USAGE = 2,         /* bad arguments, environment or inventory */
    EXIT_PROBE_FAULT = 3    /* rounds written, but some checks could not run (probe's own fault) */
};

#define DEFAULT_REDIS "redis://127.0.0.1:6379/0"
#define TTL_FLOOR_S 180

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

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
            "  --redis URL        redis://[[user]:pass@]host[:port][/db] or\n"
            "                     unix:///path[?db=N], comma-separated for failover\n"
            "                     (default: $WSB_REDIS_URL, else " DEFAULT_REDIS ")\n"
            "  --prefix P         key prefix (default: $WSB_KEY_PREFIX, else wsb:)\n"
            "  --ttl S            state lifetime in seconds (default: max(180, 3 x interval))\n"
            "  --max-parallel N   transfers at once (default: from the file descriptor limit)\n"
            "  --log-level L      error, warn, info (default) or debug\n"
            "  --check-inventory  validate the inventory and exit\n"
            "  drain ID           drain node ID at run time (kept by later rounds)\n"
            "  undrain ID         undo a run-time drain\n"
            "  --help, --version\n"
            "\n"
            "Exit status: 0 done (whatever the nodes' health, or another probe holds the\n"
            "lock), 1 Redis unreachable or failing, 2 bad arguments or inventory, 3 done\n"
            "but some checks could not run for a fault of the probe itself.\n"
            "Environment: WSB_REDIS_URL, WSB_REDIS_PASSWORD_FILE, WSB_KEY_PREFIX,\n"
            "WSB_REDIS_CONNECT_TIMEOUT_MS, WSB_REDIS_TIMEOUT_MS, WSB_LOG_LEVEL.\n");
}

struct options {
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
    enum wsb_log_level level;
};

static int parse_number_arg(const char *name, const char *v, long lo, long hi, long *out)
{
    if (v == NULL || wsb_parse_long(v, lo, hi, out) != WSB_OK) {
        fprintf(stderr, "wsb-probe: %s: '%s' is not a whole number in %ld..%ld\n", name, v ? v : "", lo, hi);
        return -1;
    }
    return 0;
}

/* Returns -1 on a usage error (reported), 1 for --help/--version (done), 0 to go on. */
static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->level = WSB_LOG_INFO;
    const char *level = wsb_env("WSB_LOG_LEVEL");
    if (level != NULL && wsb_log_level_parse(level, &o->level) != WSB_OK) {
        fprintf(stderr, "wsb-probe: WSB_LOG_LEVEL: '%s' is not one of error, warn, info, debug\n", level);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("wsb-probe %s\n", WSB_VERSION);
            return 1;
        } else if (strcmp(a, "--once") == 0) {
            o->once = 1;
            takes = 0;
        } else if (strcmp(a, "--check-inventory") == 0) {
            o->check_only = 1;
            takes = 0;
        } else if (strcmp(a, "--inventory") == 0) {
            o->inventory = v;
        } else if (strcmp(a, "--redis") == 0) {
            o->redis_url = v;
        } else if (strcmp(a, "--prefix") == 0) {
            o->prefix = v;
        } else if (strcmp(a, "--interval") == 0) {
            if (parse_number_arg(a, v, 1, 3600, &o->interval_s) != 0)
                return -1;
        } else if (strcmp(a, "--for") == 0) {
            if (parse_number_arg(a, v, 1, 86400 * 366, &o->for_s) != 0)
                return -1;
        } else if (strcmp(a, "--ttl") == 0) {
            if (parse_number_arg(a, v, 1, 86400 * 30, &o->ttl_s) != 0)
                return -1;
        } else if (strcmp(a, "--max-parallel") == 0) {
            if (parse_number_arg(a, v, 1, 1000000, &o->max_parallel) != 0)
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
        if (takes) {
            if (v == NULL) {
                fprintf(stderr, "wsb-probe: %s needs a value\n", a);
                return -1;
            }
            i++;
        }
    }
    if (o->command != NULL) {
        if (o->once || o->interval_s || o->for_s || o->check_only) {
            fprintf(stderr, "wsb-probe: %s takes only --redis, --prefix and --log-level\n", o->command);
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

/* Redis settings from the options and the environment; 0 or -1 (logged). */
static int redis_setup(const struct options *o, struct wsb_redis_config *cfg, struct wsb_keys *keys)
{
    char err[WSB_ERRLEN], why[WSB_ERRLEN];
    long connect_ms = 1000, command_ms = 5000;
    if (wsb_env_long("WSB_REDIS_CONNECT_TIMEOUT_MS", 10, 60000, &connect_ms, err) != WSB_OK ||
        wsb_env_long("WSB_REDIS_TIMEOUT_MS", 10, 600000, &command_ms, err) != WSB_OK) {
        wsb_log_error("%s", err);
        return -1;
    }
    const char *url = o->redis_url ? o->redis_url : wsb_env("WSB_REDIS_URL");
    const char *what = o->redis_url ? "--redis" : "WSB_REDIS_URL";
    if (url == NULL)
        url = DEFAULT_REDIS;
    int status = wsb_redis_config_parse(url, wsb_env("WSB_REDIS_PASSWORD_FILE"), (int)connect_ms,
                                        (int)command_ms, cfg, why);
    if (status != WSB_OK) {
        wsb_log_error("%s: %s", status == WSB_EIO ? "WSB_REDIS_PASSWORD_FILE" : what, why);
        return -1;
    }
    const char *prefix = o->prefix ? o->prefix : wsb_env("WSB_KEY_PREFIX");
    if (prefix == NULL)
        prefix = "wsb:";
    if (wsb_keys_init(keys, prefix, why) != WSB_OK) {
        wsb_log_error("%s: %s", o->prefix ? "--prefix" : "WSB_KEY_PREFIX", why);
        return -1;
    }
    return 0;
}

static int run_drain(const struct options *o)
{
    struct wsb_redis_config cfg;
    struct wsb_keys keys;
    char err[WSB_ERRLEN];
    int drain = strcmp(o->command, "drain") == 0;
    if (redis_setup(o, &cfg, &keys) != 0)
        return EXIT_USAGE;
    if (wsb_node_id_check(o->command_id, strlen(o->command_id), err) != WSB_OK) {
        wsb_log_error("%s: %s", o->command, err);
        return EXIT_USAGE;
    }
    struct wsb_redis *r = wsb_redis_new(&cfg);
    if (r == NULL) {
        wsb_log_error("out of memory");
        return EXIT_RUNTIME;
    }
    int rc = EXIT_RUNTIME;
    if (wsb_state_set_drain(r, &keys, o->command_id, drain, err) != WSB_OK) {
        wsb_log_error("%s %s: %s", o->command, o->command_id, err);
        goto cleanup;
    }
    redisReply *known = wsb_redis_command(r, err, "HEXISTS %s %s", keys.nodes, o->command_id);
    if (known != NULL && known->type == REDIS_REPLY_INTEGER && known->integer == 0)
        wsb_log_warn("node %s is not in %s (yet): the %s applies when it appears", o->command_id, keys.nodes,
                     o->command);
    if (known != NULL)
        freeReplyObject(known);
    if (drain)
        printf("node %s drained (in %s; undo with: wsb-probe undrain %s)\n", o->command_id, keys.admin,
               o->command_id);
    else
        printf("node %s undrained (removed from %s)\n", o->command_id, keys.admin);
    rc = EXIT_DONE;
cleanup:
    wsb_redis_free(r);
    return rc;
}

/* Raises the descriptor limit as far as allowed; returns the soft limit. */
static long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576 ? 1048576 : (long)rl.rlim_cur;
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until the monotonic time `until` (ms) or a stop request. */
static void sleep_until(long long until)
{
    while (!stop_requested) {
        long long left = until - monotonic_ms();
        if (left <= 0)
            return;
        if (left > 200)
            left = 200;
        struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static int run_probe(const struct options *o)
{
    char err[WSB_ERRLEN];
    struct wsb_inventory inv;
    struct wsb_redis_config cfg;
    struct wsb_keys keys;
    struct wsb_redis *r = NULL;
    int rc = EXIT_USAGE, locked = 0;
    char host[128] = "localhost", probe_id[200], token[240];

    /* Everything that can be wrong with the configuration is found before
     * Redis is touched. */
    if (wsb_inventory_load(o->inventory, &inv, err) != WSB_OK) {
        wsb_log_error("%s", err);
        return EXIT_USAGE;
    }
    if (o->check_only) {
        size_t counts[3] = { 0, 0, 0 }, reports = 0, drained = 0;
        for (size_t i = 0; i < inv.n; i++) {
            counts[inv.nodes[i].check.type]++;
            reports += inv.nodes[i].status_url != NULL;
            drained += inv.nodes[i].node.drain != 0;
        }
        printf("%s: %zu nodes ok (websocket %zu, http %zu, tcp %zu; %zu with status_url; %zu draining)\n",
               o->inventory, inv.n, counts[0], counts[1], counts[2], reports, drained);
        wsb_inventory_free(&inv);
        return EXIT_DONE;
    }
    if (redis_setup(o, &cfg, &keys) != 0)
        goto cleanup;
    if (inv.n == 0)
        wsb_log_warn("%s: no nodes: every round writes an empty state", o->inventory);

    long fd_limit = raise_fd_limit();
    size_t transfers = 0;
    for (size_t i = 0; i < inv.n; i++)
        transfers += 1 + (inv.nodes[i].status_url != NULL);
    /* Up to three descriptors a transfer (socket, resolver pair); keep 64 spare. */
    long max_parallel = o->max_parallel ? o->max_parallel : (fd_limit - 64) / 3;
    if (max_parallel < 1)
        max_parallel = 1;
    long batches = transfers ? ((long)transfers + max_parallel - 1) / max_parallel : 1;
    if ((size_t)max_parallel < transfers)
        wsb_log_warn("checking %zu transfers %ld at a time (descriptor limit %ld): a round may take up to "
                     "%ld x the timeout", transfers, max_parallel, fd_limit, batches);
    long round_budget_ms = inv.max_timeout_ms * batches + 10000;
    long ttl_s = o->ttl_s ? o->ttl_s : (3 * o->interval_s > TTL_FLOOR_S ? 3 * o->interval_s : TTL_FLOOR_S);
    long lock_ttl_ms = round_budget_ms + o->interval_s * 1000;
    if (ttl_s * 1000 < round_budget_ms)
        wsb_log_warn("--ttl %ld s is shorter than a round may take (%ld ms): the state may expire between "
                     "rounds", ttl_s, round_budget_ms);

    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    uint8_t rnd[8] = { 0 };
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        memcpy(rnd, &(long long){ monotonic_ms() }, sizeof rnd);
    snprintf(probe_id, sizeof probe_id, "%s:%ld", host, (long)getpid());
    snprintf(token, sizeof token, "%s:%02x%02x%02x%02x%02x%02x%02x%02x", probe_id, rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5], rnd[6], rnd[7]);

    rc = EXIT_RUNTIME;
    if ((r = wsb_redis_new(&cfg)) == NULL) {
        wsb_log_error("out of memory");
        goto cleanup;
    }
    int status = wsb_lock_take(r, &keys, token, lock_ttl_ms, err);
    if (status == WSB_EBUSY) {
        redisReply *holder = wsb_redis_command(r, err, "GET %s", keys.lock);
        wsb_log_warn("another probe holds the lock %s (%s); not running", keys.lock,
                     holder && holder->type == REDIS_REPLY_STRING ? holder->str : "?");
        if (holder != NULL)
            freeReplyObject(holder);
        rc = EXIT_DONE;
        goto cleanup;
    }
    if (status != WSB_OK) {
        wsb_log_error("%s", err);
        goto cleanup;
    }
    locked = 1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        wsb_log_error("probe fault: libcurl could not be initialised");
        goto cleanup;
    }
    struct wsb_round_ctx ctx = {
        .inv = &inv, .redis = r, .keys = &keys, .ttl_s = (int)ttl_s, .probe_id = probe_id,
        .lock_token = token, .lock_ttl_ms = lock_ttl_ms,
        .check = { .ca_file = inv.ca_file, .max_parallel = (size_t)max_parallel,
                   .user_agent = "wsb-probe/" WSB_VERSION },
    };
    long long start = monotonic_ms();
    int failures = 0, faults = 0, rounds = 0;
    rc = EXIT_DONE;
    for (long k = 0; !stop_requested; ) {
        struct wsb_round_stats st;
        status = wsb_round_run(&ctx, &st, err);
        rounds++;
        if (status == WSB_EBUSY) {
            wsb_log_error("%s", err);
            locked = 0;
            rc = EXIT_RUNTIME;
            break;
        }
        if (status != WSB_OK) {
            wsb_log_error("round not written: %s", err);
            failures++;
        } else {
            faults += st.probe_faults > 0;
            wsb_log(o->interval_s ? WSB_LOG_DEBUG : WSB_LOG_INFO,
                    "round: %zu nodes, %zu up, %zu down, %zu draining, %lld ms%s", st.nodes, st.up, st.down,
                    st.draining, st.duration_ms, st.probe_faults ? " (with probe faults)" : "");
        }
        if (!o->interval_s)
            break;
        /* Rounds start on the grid start + k * interval; a round that ran
         * late is followed at once by the next, and none starts after --for. */
        k++;
        if (o->for_s && (k * o->interval_s >= o->for_s || monotonic_ms() - start >= o->for_s * 1000))
            break;
        sleep_until(start + (long long)k * o->interval_s * 1000);
        if (stop_requested)
            break;
        if (wsb_round_keep_lock(&ctx, err) == WSB_EBUSY) {
            wsb_log_error("lost the probe lock %s (another probe took over?); stopping", keys.lock);
            locked = 0;
            rc = EXIT_RUNTIME;
            break;
        }
    }
    if (rc == EXIT_DONE && failures > 0)
        rc = EXIT_RUNTIME;
    else if (rc == EXIT_DONE && faults > 0)
        rc = EXIT_PROBE_FAULT;
    if (o->interval_s)
        wsb_log_info("%d rounds in %lld ms, %d not written, %d with probe faults", rounds,
                     monotonic_ms() - start, failures, faults);
    curl_global_cleanup();
cleanup:
    if (locked && wsb_lock_release(r, &keys, token, err) != WSB_OK)
        wsb_log_warn("could not release the lock (it expires by itself): %s", err);
    wsb_redis_free(r);
    wsb_inventory_free(&inv);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int a = parse_args(argc, argv, &o);
    if (a != 0)
        return a > 0 ? EXIT_DONE : EXIT_USAGE;
    wsb_log_init("wsb-probe", o.level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.command != NULL)
        return run_drain(&o);
    return run_probe(&o);
}
