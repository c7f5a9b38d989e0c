/* pool.c: the supervisor of the pre-forked workers: start, restart with
 * back-off, and stop. */
#define _GNU_SOURCE
#include "pool.h"
#include "clock.h"
#include "fastcgi_process.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_MS 5000        /* SIGTERM to SIGKILL */
#define FAST_DEATH_MS 1000        /* a worker that dies sooner counts as failing */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define FORK_RETRY_MS 1000

/* A worker slot's life; slot_set is the one place that changes it. */
enum slot_state {
    SLOT_DUE,        /* to be started at due_ms (at first: at once) */
    SLOT_RUNNING,    /* pid runs */
    SLOT_STOPPING,   /* pid was told to stop */
    SLOT_GONE        /* reaped at the stop; not to be started again */
};

static const char *const slot_state_names[] = { "due", "running", "stopping", "gone" };

struct slot {
    enum slot_state state;
    pid_t pid;                /* SLOT_RUNNING, SLOT_STOPPING */
    long long started_ms;
    long long due_ms;         /* SLOT_DUE */
    int quick_deaths;         /* in a row, each within FAST_DEATH_MS of start */
};

static void slot_set(struct slot *s, long i, enum slot_state to, pid_t pid, long long at_ms)
{
    wsb_log_debug("pool: worker %ld: %s -> %s (pid %ld)", i + 1, slot_state_names[s->state], slot_state_names[to],
                  (long)(to == SLOT_RUNNING ? pid : s->pid));
    s->state = to;
    switch (to) {
    case SLOT_DUE:
        s->pid = 0;
        s->due_ms = at_ms;
        break;
    case SLOT_RUNNING:
        s->pid = pid;
        s->started_ms = at_ms;
        break;
    case SLOT_STOPPING:
        break;
    case SLOT_GONE:
        s->pid = 0;
        break;
    }
}

/* The worker process: a handler of its own, served until a stop. */
static pid_t spawn_worker(const struct wsb_handler_config *cfg, int listen_fd, int tcp, long threads,
                          const sigset_t *orig_mask)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* It stops with the pool even if the pool is killed outright. */
    sigprocmask(SIG_SETMASK, orig_mask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    /* After fork the settings' memory is this process's own copy: its
     * handler takes it over. */
    struct wsb_handler_config mine = *cfg;
    struct wsb_handler *h = wsb_handler_new(&mine);
    if (h == NULL) {
        wsb_log_error("out of memory at start");
        exit(1);
    }
    int rc = wsb_serve_fastcgi(h, listen_fd, tcp, threads);
    wsb_handler_free(h);
    exit(rc);
}

static void describe_exit(int wstatus, char *buf, size_t len)
{
    const char *sig = WIFSIGNALED(wstatus) ? sigabbrev_np(WTERMSIG(wstatus)) : NULL;
    if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "was killed by SIG%s", sig != NULL ? sig : "?");
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
}

/* The delay before a dead worker's restart: none after a long life, else
 * doubling with each quick death in a row. */
static long restart_delay(struct slot *s, long long lived)
{
    if (lived >= FAST_DEATH_MS) {
        s->quick_deaths = 0;
        return 0;
    }
    s->quick_deaths++;
    long delay = BACKOFF_FIRST_MS;
    for (int k = 1; k < s->quick_deaths && delay < BACKOFF_MAX_MS; k++)
        delay *= 2;
    return delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay;
}

/* A worker ended while the pool runs: it is started again. */
static void on_death(struct slot *s, long i, int wstatus, long long now)
{
    char how[96];
    describe_exit(wstatus, how, sizeof how);
    long long lived = now - s->started_ms;
    pid_t pid = s->pid;
    long delay = restart_delay(s, lived);
    slot_set(s, i, SLOT_DUE, 0, now + delay);
    if (delay == 0)
        wsb_log_warn("pool: worker %ld (pid %ld) %s after %lld ms; restarting it", i + 1, (long)pid, how, lived);
    else
        wsb_log_error("pool: worker %ld (pid %ld) %s after %lld ms (%d quick exits in a row); restarting "
                      "it in %ld ms",
                      i + 1, (long)pid, how, lived, s->quick_deaths, delay);
}

/* Collects exited workers; returns how many of the pool's were reaped. */
static int reap(struct slot *slots, long n)
{
    int reaped = 0;
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        long i;
        for (i = 0; i < n && (slots[i].pid != pid || slots[i].state == SLOT_DUE); i++)
            ;
        if (i == n)
            continue;
        reaped++;
        if (slots[i].state == SLOT_STOPPING)
            slot_set(&slots[i], i, SLOT_GONE, 0, 0);
        else
            on_death(&slots[i], i, wstatus, wsb_now_ms());
    }
    return reaped;
}

/* Stops the workers: SIGTERM, then SIGKILL after STOP_GRACE_MS (or at once
 * on a second stop signal). */
static void stop_workers(struct slot *slots, long n, const sigset_t *waitset)
{
    long running = 0;
    for (long i = 0; i < n; i++) {
        if (slots[i].state != SLOT_RUNNING)
            continue;
        slot_set(&slots[i], i, SLOT_STOPPING, 0, 0);
        if (kill(slots[i].pid, SIGTERM) == 0)
            running++;
    }
    long long deadline = wsb_now_ms() + STOP_GRACE_MS;
    int forced = 0;
    while (running > 0) {
        running -= reap(slots, n);
        if (running <= 0)
            break;
        long long left = deadline - wsb_now_ms();
        if (left <= 0 && !forced) {
            wsb_log_warn("pool: %ld worker(s) still running after %d ms: killing them", running, STOP_GRACE_MS);
            for (long i = 0; i < n; i++)
                if (slots[i].state == SLOT_STOPPING)
                    kill(slots[i].pid, SIGKILL);
            forced = 1;
            left = 1000;
        } else if (left <= 0) {
            break;
        }
        struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
        int sig = sigtimedwait(waitset, NULL, &ts);
        if (sig > 0 && sig != SIGCHLD && !forced)
            deadline = wsb_now_ms();   /* a second stop signal: no more grace */
    }
}

/* Starts every slot that is due; returns when the next one falls due. */
static long long start_due(struct slot *slots, long n, const struct wsb_handler_config *cfg, int listen_fd,
                           int tcp, long threads, const sigset_t *orig)
{
    long long now = wsb_now_ms();
    long long next_due = now + 60000;
    for (long i = 0; i < n; i++) {
        if (slots[i].state != SLOT_DUE)
            continue;
        if (slots[i].due_ms <= now) {
            pid_t pid = spawn_worker(cfg, listen_fd, tcp, threads, orig);
            if (pid > 0) {
                slot_set(&slots[i], i, SLOT_RUNNING, pid, now);
                continue;
            }
            wsb_log_error("pool: cannot start worker %ld: fork: %s; trying again in %d ms", i + 1, strerror(errno),
                          FORK_RETRY_MS);
            slot_set(&slots[i], i, SLOT_DUE, 0, now + FORK_RETRY_MS);
        }
        if (slots[i].due_ms < next_due)
            next_due = slots[i].due_ms;
    }
    return next_due;
}

int wsb_pool_run(const struct wsb_handler_config *cfg, int listen_fd, int tcp, const char *where, long n,
                 long threads)
{
    sigset_t set, orig;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &orig);

    struct slot *slots = calloc((size_t)n, sizeof *slots);   /* all SLOT_DUE at 0: at once */
    if (slots == NULL) {
        wsb_log_error("out of memory at start");
        sigprocmask(SIG_SETMASK, &orig, NULL);
        return 1;
    }
    wsb_log_info("pool: serving %s with %ld worker(s) of %ld thread(s)", where, n, threads);
    int stop_sig = 0;
    while (stop_sig == 0) {
        long long wait_ms = start_due(slots, n, cfg, listen_fd, tcp, threads, &orig) - wsb_now_ms();
        if (wait_ms < 1)
            wait_ms = 1;
        struct timespec ts = { (time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000L };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGCHLD)
            reap(slots, n);
        else if (sig > 0)
            stop_sig = sig;
    }
    wsb_log_info("pool: stopping on SIG%s", sigabbrev_np(stop_sig));
    stop_workers(slots, n, &set);
    free(slots);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}
