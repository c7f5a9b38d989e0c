/* events.c: state-change events: the <prefix>events stream and the
 * --on-change command. */
#include "events.h"
#include "clock.h"
#include "log.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *const EVENT_NAMES[] = {
    [WSB_EVENT_ONLINE] = "online",         [WSB_EVENT_OFFLINE] = "offline",
    [WSB_EVENT_DRAINED] = "drained",       [WSB_EVENT_UNDRAINED] = "undrained",
    [WSB_EVENT_PROBE_FAULT] = "probe_fault", [WSB_EVENT_PROBE_OK] = "probe_ok",
};

const char *wsb_event_name(enum wsb_event_kind kind)
{
    if ((unsigned)kind >= sizeof EVENT_NAMES / sizeof EVENT_NAMES[0])
        return "?";
    return EVENT_NAMES[kind];
}

int wsb_events_add(struct wsb_event_list *l, enum wsb_event_kind kind, const char *node, long long at,
                   const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct wsb_event *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return WSB_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char reason[WSB_EVENT_REASON_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    struct wsb_event *e = &l->v[l->n];
    if ((e->reason = strdup(reason)) == NULL)
        return WSB_ENOMEM;
    e->kind = kind;
    snprintf(e->node, sizeof e->node, "%s", node ? node : "");
    e->at = at;
    l->n++;
    return WSB_OK;
}

void wsb_events_reset(struct wsb_event_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].reason);
    l->n = 0;
}

void wsb_events_free(struct wsb_event_list *l)
{
    if (l == NULL)
        return;
    wsb_events_reset(l);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Room for one XADD's arguments. */
struct xadd_args {
    const char *argv[18];
    size_t lens[18];
    int argc;
    char maxlen[24], at[24];
};

static void arg(struct xadd_args *a, const char *s)
{
    a->argv[a->argc] = s;
    a->lens[a->argc++] = strlen(s);
}

static void xadd_build(struct xadd_args *a, const char *key, const struct wsb_event *e,
                       const struct wsb_event_stamp *s)
{
    a->argc = 0;
    snprintf(a->maxlen, sizeof a->maxlen, "%ld", s->maxlen > 0 ? s->maxlen : (long)WSB_EVENTS_MAXLEN);
    snprintf(a->at, sizeof a->at, "%lld", e->at);
    arg(a, "XADD");
    arg(a, key);
    arg(a, "MAXLEN");
    arg(a, "~");
    arg(a, a->maxlen);
    arg(a, "*");
    arg(a, "event");
    arg(a, wsb_event_name(e->kind));
    if (e->node[0] != '\0') {
        arg(a, "node");
        arg(a, e->node);
    }
    arg(a, "reason");
    arg(a, e->reason);
    arg(a, "at");
    arg(a, a->at);
    arg(a, "probe");
    arg(a, s->probe ? s->probe : "?");
    arg(a, "round");
    arg(a, s->round ? s->round : "");
}

int wsb_events_queue(redisContext *c, const struct wsb_keys *k, const struct wsb_event_list *l, size_t from,
                     size_t count, const struct wsb_event_stamp *s, size_t *queued)
{
    struct xadd_args a;
    for (size_t i = from; l != NULL && i < l->n && i - from < count; i++) {
        xadd_build(&a, k->events, &l->v[i], s);
        if (redisAppendCommandArgv(c, a.argc, a.argv, a.lens) != REDIS_OK)
            return WSB_ENOMEM;
        (*queued)++;
    }
    return WSB_OK;
}

int wsb_events_append(struct wsb_redis *r, const struct wsb_keys *k, const struct wsb_event_list *l,
                      const struct wsb_event_stamp *s, char *err)
{
    struct xadd_args a;
    for (size_t i = 0; i < l->n; i++) {
        xadd_build(&a, k->events, &l->v[i], s);
        redisContext *c = wsb_redis_get(r, err);
        if (c == NULL)
            return WSB_EREDIS;
        redisReply *rr = redisCommandArgv(c, a.argc, a.argv, a.lens);
        if (rr == NULL) {
            int status = wsb_fail(err, WSB_EREDIS, "redis %s: %s", wsb_redis_current(r),
                                  c->errstr[0] ? c->errstr : "no reply");
            wsb_redis_drop(r);
            return status;
        }
        int refused = rr->type == REDIS_REPLY_ERROR;
        if (refused)
            wsb_fail(err, WSB_EREDIS, "redis %s: XADD %s: %.160s", wsb_redis_current(r), k->events, rr->str);
        freeReplyObject(rr);
        if (refused)
            return WSB_EREDIS;
    }
    return WSB_OK;
}

static int refused_logged;

void wsb_events_refused(const char *redis_name, const char *why)
{
    if (refused_logged)
        return;
    refused_logged = 1;
    wsb_log_warn("redis %s: XADD to the events stream refused (%.160s): rounds are written without their events "
                 "(said once); grant the probe's user +xadd", redis_name, why);
}

void wsb_events_accepted(void)
{
    if (!refused_logged)
        return;
    refused_logged = 0;
    wsb_log_info("the events stream accepts XADD again");
}

/* The environment of a run: ours first, then the probe's own without
 * them.  Built before fork (no allocation in the child).  NULL on ENOMEM. */
static char **child_env(char vars[6][WSB_EVENT_REASON_LEN + 32])
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = malloc((n + 7) * sizeof *env);
    if (env == NULL)
        return NULL;
    size_t j = 0;
    for (int i = 0; i < 6; i++)
        env[j++] = vars[i];
    for (size_t i = 0; i < n; i++) {
        int ours = 0;
        for (int v = 0; v < 6 && !ours; v++) {
            size_t len = strcspn(vars[v], "=") + 1;
            ours = strncmp(environ[i], vars[v], len) == 0;
        }
        if (!ours)
            env[j++] = environ[i];
    }
    env[j] = NULL;
    return env;
}

/* Waits for pid until deadline (monotonic ms); kills its group past it.
 * Returns the wait status, or -1 when it was killed for time. */
static int wait_bounded(pid_t pid, long long deadline)
{
    int ws = 0;
    for (;;) {
        pid_t got = waitpid(pid, &ws, WNOHANG);
        if (got == pid)
            return ws;
        if (got < 0 && errno != EINTR)
            return 0;
        if (wsb_now_ms() >= deadline)
            break;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

/* One run of cmd for e, bounded by deadline.  0 done (logged when it
 * failed), -1 killed for time or could not start (logged). */
static int run_one(const char *cmd, const struct wsb_event *e, const struct wsb_event_stamp *s,
                   long long deadline, long each_s, long long total_ms)
{
    char vars[6][WSB_EVENT_REASON_LEN + 32];
    snprintf(vars[0], sizeof vars[0], "WSB_EVENT=%s", wsb_event_name(e->kind));
    snprintf(vars[1], sizeof vars[1], "WSB_NODE=%s", e->node);
    snprintf(vars[2], sizeof vars[2], "WSB_REASON=%s", e->reason);
    snprintf(vars[3], sizeof vars[3], "WSB_AT=%lld", e->at);
    snprintf(vars[4], sizeof vars[4], "WSB_ROUND=%s", s->round ? s->round : "");
    snprintf(vars[5], sizeof vars[5], "WSB_PROBE=%s", s->probe ? s->probe : "");
    char **env = child_env(vars);
    if (env == NULL) {
        wsb_log_warn("--on-change: out of memory; event %s %s not run", wsb_event_name(e->kind), e->node);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        wsb_log_warn("probe fault: --on-change: fork: %s; event %s %s not run", strerror(errno),
                     wsb_event_name(e->kind), e->node);
        free(env);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0 && fd != 0) {
            dup2(fd, 0);
            close(fd);
        }
        dup2(2, 1);   /* the probe's stdout stays its own */
        signal(SIGPIPE, SIG_DFL);
        char *const argv[] = { "sh", "-c", (char *)(uintptr_t)cmd, NULL };   /* execve does not write */
        execve("/bin/sh", argv, env);
        _exit(127);
    }
    setpgid(pid, pid);   /* either side may win the race; both set the same */
    free(env);
    long long started = wsb_now_ms();
    int ws = wait_bounded(pid, deadline);
    if (ws < 0) {
        wsb_log_warn("--on-change: event %s%s%s: killed after %lld ms (bound %ld s each, %lld ms a round)",
                     wsb_event_name(e->kind), e->node[0] ? " " : "", e->node, wsb_now_ms() - started, each_s,
                     total_ms);
        return -1;
    }
    if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0)
        wsb_log_warn("--on-change: event %s%s%s: the command exited with status %d", wsb_event_name(e->kind),
                     e->node[0] ? " " : "", e->node, WEXITSTATUS(ws));
    else if (WIFSIGNALED(ws))
        wsb_log_warn("--on-change: event %s%s%s: the command was killed by signal %d", wsb_event_name(e->kind),
                     e->node[0] ? " " : "", e->node, WTERMSIG(ws));
    return 0;
}

void wsb_events_run(const char *cmd, const struct wsb_event_list *l, const struct wsb_event_stamp *s,
                    long each_s, long long total_ms)
{
    if (cmd == NULL || l == NULL || l->n == 0)
        return;
    if (total_ms <= 0)
        total_ms = 3LL * each_s * 1000;
    long long start = wsb_now_ms(), all = start + total_ms;
    for (size_t i = 0; i < l->n; i++) {
        long long now = wsb_now_ms(), deadline = now + each_s * 1000;
        if (now >= all) {
            wsb_log_warn("--on-change: %zu of %zu events not run: the round's bound (%lld ms) is spent", l->n - i,
                         l->n, total_ms);
            return;
        }
        if (deadline > all)
            deadline = all;
        run_one(cmd, &l->v[i], s, deadline, each_s, total_ms);
    }
}
