/* run.c: wsb-probe's runs: the rounds, from the inventory to the last
 * write and the lock's release, and the drain command. */
#define _GNU_SOURCE   /* sched_getaffinity, CPU_COUNT */
#include "run.h"
#include "clock.h"
#include "config.h"
#include "events.h"
#include "inventory.h"
#include "lock.h"
#include "probe_metrics.h"
#include "redis.h"
#include "round.h"
#include "state_write.h"
#include "status.h"

#include <curl/curl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TTL_FLOOR_S 180

static volatile sig_atomic_t stop_requested;

void wsb_run_stop(void)
{
    stop_requested = 1;
}

/* Redis settings from the options and the environment; 0 or -1 (logged). */
static int redis_setup(const struct wsb_probe_options *o, struct wsb_redis_config *cfg, struct wsb_keys *keys)
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
        url = WSB_DEFAULT_REDIS;
    struct wsb_redis_config given;
    int status = wsb_redis_config_parse(url, wsb_env("WSB_REDIS_PASSWORD_FILE"), (int)connect_ms,
                                        (int)command_ms, &given, why);
    if (status != WSB_OK) {
        wsb_log_error("%s: %s", status == WSB_EIO ? "WSB_REDIS_PASSWORD_FILE" : what, why);
        return -1;
    }
    /* The probe writes: through Sentinel it always wants the primary. */
    wsb_redis_config_for_writes(&given, cfg);
    memset(&given, 0, sizeof given);
    const char *prefix = o->prefix ? o->prefix : wsb_env("WSB_KEY_PREFIX");
    if (prefix == NULL)
        prefix = "wsb:";
    if (wsb_keys_init(keys, prefix, why) != WSB_OK) {
        wsb_log_error("%s: %s", o->prefix ? "--prefix" : "WSB_KEY_PREFIX", why);
        return -1;
    }
    return 0;
}

/* A drain's event: appended to the stream (after the drain, not with it:
 * a refused XADD is a warning, the drain stands) and given to --on-change. */
static void drain_event(const struct wsb_probe_options *o, struct wsb_redis *r, const struct wsb_keys *keys,
                        int drain)
{
    char err[WSB_ERRLEN], probe_id[200], host[128] = "localhost";
    struct wsb_event_list events = { 0 };
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(probe_id, sizeof probe_id, "%s:%ld", host, (long)getpid());
    struct wsb_event_stamp stamp = { .probe = probe_id, .round = "", .maxlen = o->events_max };
    if (wsb_events_add(&events, drain ? WSB_EVENT_DRAINED : WSB_EVENT_UNDRAINED, o->command_id, (long long)time(NULL),
                       "wsb-probe %s", o->command) != WSB_OK) {
        wsb_log_warn("%s %s: out of memory: no event", o->command, o->command_id);
        return;
    }
    if (wsb_events_append(r, keys, &events, &stamp, err) != WSB_OK)
        wsb_log_warn("%s %s: done, but its event is not in %s: %s (grant the probe's user +xadd)", o->command,
                     o->command_id, keys->events, err);
    wsb_events_run(o->on_change, &events, &stamp, o->on_change_timeout_s, 0);
    wsb_events_free(&events);
}

int wsb_run_drain(const struct wsb_probe_options *o)
{
    struct wsb_redis_config cfg;
    struct wsb_keys keys;
    char err[WSB_ERRLEN];
    int drain = strcmp(o->command, "drain") == 0;
    if (redis_setup(o, &cfg, &keys) != 0)
        return WSB_EXIT_USAGE;
    if (wsb_node_id_check(o->command_id, strlen(o->command_id), err) != WSB_OK) {
        wsb_log_error("%s: %s", o->command, err);
        return WSB_EXIT_USAGE;
    }
    struct wsb_redis *r = wsb_redis_new(&cfg);
    if (r == NULL) {
        wsb_log_error("out of memory");
        return WSB_EXIT_RUNTIME;
    }
    int rc = WSB_EXIT_RUNTIME;
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
    rc = WSB_EXIT_DONE;
    drain_event(o, r, &keys, drain);
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

/* Sleeps until the monotonic time `until` (ms) or a stop request. */
static void sleep_until(long long until)
{
    while (!stop_requested) {
        long long left = until - wsb_now_ms();
        if (left <= 0)
            return;
        if (left > 200)
            left = 200;
        struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}


/* --check-inventory: what the inventory holds, on stdout. */
static void report_inventory(const char *path, const struct wsb_inventory *inv)
{
    size_t counts[3] = { 0, 0, 0 }, reports = 0, drained = 0;
    for (size_t i = 0; i < inv->n; i++) {
        counts[inv->nodes[i].check.type]++;
        reports += inv->nodes[i].status_url != NULL;
        drained += inv->nodes[i].node.drain != 0;
    }
    printf("%s: %zu nodes ok (websocket %zu, http %zu, tcp %zu; %zu with status_url; %zu draining)\n", path,
           inv->n, counts[0], counts[1], counts[2], reports, drained);
    if (inv->canary != NULL)
        printf("%s: canary %s %s (a round counts only when it answers)\n", path,
               wsb_check_type_name(inv->canary->check.type), inv->canary->check.shown);
}

#define IN_FLIGHT_DEFAULT 1024L
#define THREADS_DEFAULT 8L      /* most threads without --threads */
#define TRANSFERS_PER_THREAD 1024

/* How many transfers run at once, and how long a round, the state and
 * the lock may last. */
struct round_plan {
    long max_parallel;
    long threads;
    long round_budget_ms;
    long ttl_s;
    long lock_ttl_ms;
};

/* Plans the rounds from the options, the inventory and the descriptor
 * limit (raised as far as allowed); warns of what may not fit. */
static void plan_rounds(const struct wsb_probe_options *o, const struct wsb_inventory *inv, struct round_plan *p)
{
    long fd_limit = raise_fd_limit();
    size_t transfers = 0;
    for (size_t i = 0; i < inv->n; i++)
        transfers += 1 + (inv->nodes[i].status_url != NULL);
    /* The checks are CPU-bound (TCP and TLS set-up): a thread per CPU
     * this process may run on, up to THREADS_DEFAULT, but one per
     * TRANSFERS_PER_THREAD transfers at most (a thread's arena and stack,
     * about 1.5 MB at 1,000 nodes, buy nothing for a round of 0.2 s of CPU).
     * --threads is taken as given (check.c caps it at --max-parallel). */
    if (o->threads) {
        p->threads = o->threads;
    } else {
        cpu_set_t set;
        long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
        long by_size = (long)(transfers / TRANSFERS_PER_THREAD);
        p->threads = cpus < by_size ? cpus : by_size;
        if (p->threads > THREADS_DEFAULT)
            p->threads = THREADS_DEFAULT;
        if (p->threads < 1)
            p->threads = 1;
    }
    /* Up to three descriptors a transfer (socket, resolver pair); keep 64
     * spare, and 4 a thread (its epoll set, libcurl's wake-up pair); and at
     * most IN_FLIGHT_DEFAULT, each ~13 KiB of libcurl's: the probe's memory
     * is then bounded whatever the fleet, and a round still has every
     * hanging check of a large fleet in flight at once. */
    p->max_parallel = o->max_parallel ? o->max_parallel : (fd_limit - 64 - 4 * p->threads) / 3;
    if (!o->max_parallel && p->max_parallel > IN_FLIGHT_DEFAULT)
        p->max_parallel = IN_FLIGHT_DEFAULT;
    if (p->max_parallel < 1)
        p->max_parallel = 1;
    long batches = transfers ? ((long)transfers + p->max_parallel - 1) / p->max_parallel : 1;
    if ((size_t)p->max_parallel < transfers)
        wsb_log_warn("checking %zu transfers %ld at a time (descriptor limit %ld): a round may take up to "
                     "%ld x the timeout", transfers, p->max_parallel, fd_limit, batches);
    /* The checks, the canary's, and a margin for reading and writing the
     * state (3 s, and 1 s more for every 10,000 nodes): the lock of a
     * crashed probe frees itself soon after; a round that outlives it is
     * not written (round.c), and the write itself is fenced. */
    p->round_budget_ms = inv->max_timeout_ms * batches + (inv->canary ? inv->canary->check.timeout_ms : 0) + 3000 +
                         (long)(inv->n / 10);
    p->ttl_s = o->ttl_s ? o->ttl_s : (3 * o->interval_s > TTL_FLOOR_S ? 3 * o->interval_s : TTL_FLOOR_S);
    p->lock_ttl_ms = p->round_budget_ms + o->interval_s * 1000;
    if (p->ttl_s * 1000 < p->round_budget_ms)
        wsb_log_warn("--ttl %ld s is shorter than a round may take (%ld ms): the state may expire between "
                     "rounds", p->ttl_s, p->round_budget_ms);
}

/* The probe's name, "host:pid", and its lock token, "host:pid:random". */
static void make_identity(char *probe_id, size_t id_len, char *token, size_t token_len)
{
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    uint8_t rnd[8] = { 0 };
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        memcpy(rnd, &(long long){ wsb_now_ms() }, sizeof rnd);
    snprintf(probe_id, id_len, "%s:%ld", host, (long)getpid());
    snprintf(token, token_len, "%s:%02x%02x%02x%02x%02x%02x%02x%02x", probe_id, rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5], rnd[6], rnd[7]);
}

/* Takes the probe lock.  Returns WSB_OK when taken; else logs why and
 * returns WSB_EBUSY (another probe holds it) or WSB_EREDIS. */
static int take_lock(struct wsb_redis *r, const struct wsb_keys *keys, const char *token, long ttl_ms)
{
    char err[WSB_ERRLEN];
    int status = wsb_lock_take(r, keys, token, ttl_ms, err);
    if (status == WSB_EBUSY) {
        redisReply *holder = wsb_redis_command(r, err, "GET %s", keys->lock);
        wsb_log_warn("another probe holds the lock %s (%s); not running", keys->lock,
                     holder && holder->type == REDIS_REPLY_STRING ? holder->str : "?");
        if (holder != NULL)
            freeReplyObject(holder);
    } else if (status != WSB_OK) {
        wsb_log_error("%s", err);
    }
    return status;
}

/* --min-gap: 1 when the live round is younger than gap_s seconds (then
 * logged: this run does nothing), 0 when it is older, absent, or cannot be
 * read (then the run goes on: a round too many is harmless). */
static int round_is_fresh(struct wsb_redis *r, const struct wsb_keys *keys, long gap_s)
{
    char err[WSB_ERRLEN];
    redisReply *h = wsb_redis_command(r, err, "HMGET %s at probe", keys->round);
    int fresh = 0;
    if (h != NULL && h->type == REDIS_REPLY_ARRAY && h->elements == 2 && h->element[0]->type == REDIS_REPLY_STRING) {
        long long at = atoll(h->element[0]->str), age = (long long)time(NULL) - at;
        if (at > 0 && age >= 0 && age < gap_s) {
            fresh = 1;
            wsb_log_info("the last round (by %.100s) is %lld s old, under --min-gap %ld s: not running",
                         h->element[1]->type == REDIS_REPLY_STRING ? h->element[1]->str : "?", age, gap_s);
        }
    }
    if (h != NULL)
        freeReplyObject(h);
    return fresh;
}

/* Runs the rounds, on the grid start + k * interval: a round that ran late
 * is followed at once by the next, and none starts after --for.  Returns
 * the exit status; *locked becomes 0 when another probe holds the lock now.  (A release
 * only ever removes this probe's own token, so a lock it took again is released.) */
static int run_rounds(const struct wsb_probe_options *o, const struct wsb_round_ctx *ctx, int *locked)
{
    char err[WSB_ERRLEN];
    long long start = wsb_now_ms();
    int failures = 0, faults = 0, rounds = 0, rc = WSB_EXIT_DONE, metrics_failing = 0;
    for (long k = 0; !stop_requested;) {
        struct wsb_round_stats st;
        int status = wsb_round_run(ctx, &st, err);
        rounds++;
        if (status == WSB_EBUSY) {
            wsb_log_error("%s", err);   /* the lock is released if this probe took it again */
            rc = WSB_EXIT_RUNTIME;
            break;
        }
        char why[WSB_ERRLEN];
        if (wsb_probe_metrics_write(ctx->redis, ctx->keys, &st, status, why) != WSB_OK) {
            if (!metrics_failing)
                wsb_log_warn("metrics: the round's counts were not written: %s (grant the probe's user +hincrby on "
                             "~%s, examples/redis/users.acl)", why, ctx->keys->metrics_probe);
            metrics_failing = 1;
        } else {
            metrics_failing = 0;
        }
        if (status != WSB_OK) {
            wsb_log_error("round not written: %s", err);
            failures++;
        } else if (st.fault.fault) {
            faults++;   /* logged by the round, loudly */
        } else {
            faults += st.probe_faults > 0;
            wsb_log(o->interval_s ? WSB_LOG_DEBUG : WSB_LOG_INFO,
                    "round: %zu nodes, %zu up, %zu down, %zu draining, %lld ms%s", st.nodes, st.up, st.down,
                    st.draining, st.duration_ms, st.probe_faults ? " (with probe faults)" : "");
        }
        if (status == WSB_OK && ctx->events != NULL) {   /* the round is written, or a fault marked */
            struct wsb_event_stamp stamp = { .probe = ctx->probe_id, .round = st.round_text,
                                             .maxlen = ctx->events_max };
            /* 3 x the timeout, and at most half the lock's life: the lock outlives the runs. */
            long long total_ms = 3LL * o->on_change_timeout_s * 1000;
            if (total_ms > ctx->lock_ttl_ms / 2)
                total_ms = ctx->lock_ttl_ms / 2;
            wsb_events_run(o->on_change, ctx->events, &stamp, o->on_change_timeout_s, total_ms);
        }
        if (!o->interval_s)
            break;
        k++;
        if (o->for_s && (k * o->interval_s >= o->for_s || wsb_now_ms() - start >= o->for_s * 1000))
            break;
        sleep_until(start + (long long)k * o->interval_s * 1000);
        if (stop_requested)
            break;
        if (wsb_round_keep_lock(ctx, err) == WSB_EBUSY) {
            wsb_log_error("lost the probe lock %s (another probe took over?); stopping", ctx->keys->lock);
            *locked = 0;
            rc = WSB_EXIT_RUNTIME;
            break;
        }
    }
    if (rc == WSB_EXIT_DONE && failures > 0)
        rc = WSB_EXIT_RUNTIME;
    else if (rc == WSB_EXIT_DONE && faults > 0)
        rc = WSB_EXIT_PROBE_FAULT;
    if (o->interval_s)
        wsb_log_info("%d rounds in %lld ms, %d not written, %d with probe faults", rounds, wsb_now_ms() - start,
                     failures, faults);
    return rc;
}

int wsb_run_probe(const struct wsb_probe_options *o)
{
    char err[WSB_ERRLEN], probe_id[200], token[240];
    struct wsb_inventory inv;
    struct wsb_redis_config cfg;
    struct wsb_keys keys;
    struct round_plan plan;
    struct wsb_redis *r = NULL;
    struct wsb_event_list events = { 0 };
    int rc = WSB_EXIT_USAGE, locked = 0;

    /* Everything that can be wrong with the configuration is found before
     * Redis is touched. */
    if (wsb_inventory_load(o->inventory, &inv, err) != WSB_OK) {
        wsb_log_error("%s", err);
        return WSB_EXIT_USAGE;
    }
    if (o->check_only) {
        report_inventory(o->inventory, &inv);
        rc = WSB_EXIT_DONE;
        goto cleanup;
    }
    if (redis_setup(o, &cfg, &keys) != 0)
        goto cleanup;
    if (inv.n == 0)
        wsb_log_warn("%s: no nodes: every round writes an empty state", o->inventory);
    plan_rounds(o, &inv, &plan);
    make_identity(probe_id, sizeof probe_id, token, sizeof token);

    rc = WSB_EXIT_RUNTIME;
    if ((r = wsb_redis_new(&cfg)) == NULL) {
        wsb_log_error("out of memory");
        goto cleanup;
    }
    int status = take_lock(r, &keys, token, plan.lock_ttl_ms);
    if (status != WSB_OK) {
        rc = status == WSB_EBUSY ? WSB_EXIT_DONE : WSB_EXIT_RUNTIME;
        goto cleanup;
    }
    locked = 1;
    if (o->min_gap_s > 0 && round_is_fresh(r, &keys, o->min_gap_s)) {
        rc = WSB_EXIT_DONE;
        goto cleanup;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        wsb_log_error("probe fault: libcurl could not be initialised");
        goto cleanup;
    }
    struct wsb_round_ctx ctx = {
        .inv = &inv, .redis = r, .keys = &keys, .ttl_s = (int)plan.ttl_s, .probe_id = probe_id,
        .lock_token = token, .lock_ttl_ms = plan.lock_ttl_ms, .events = &events, .events_max = o->events_max,
        .check = { .ca_file = inv.ca_file, .max_parallel = (size_t)plan.max_parallel,
                   .threads = (size_t)plan.threads,
                   .user_agent = "wsb-probe/" WSB_VERSION },
    };
    rc = run_rounds(o, &ctx, &locked);
    curl_global_cleanup();
    wsb_events_free(&events);
cleanup:
    if (locked && wsb_lock_release(r, &keys, token, err) != WSB_OK)
        wsb_log_warn("could not release the lock (it expires by itself): %s", err);
    wsb_redis_free(r);
    wsb_inventory_free(&inv);
    return rc;
}
