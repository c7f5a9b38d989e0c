/* fastcgi_process.c: one FastCGI process: its event loops on threads, the
 * stop signals, and the stop itself. */
#define _GNU_SOURCE
#include "fastcgi_process.h"
#include "event_loop.h"
#include "log.h"
#include "status.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREAD_STOP_MS 3000       /* how long the loops get to finish at a stop */

/* A loop and the thread that runs it. */
struct thread {
    struct wsb_loop *loop;
    pthread_t tid;
    atomic_int failed;            /* the loop gave up */
    int joined;
};

static atomic_int stopping;

static void on_wake(int sig)
{
    (void)sig;   /* only interrupts a blocking epoll_wait() */
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    if (wsb_loop_run(t->loop) != 0) {
        atomic_store(&t->failed, 1);
        if (!atomic_load(&stopping))
            kill(getpid(), SIGUSR2);   /* tell the main thread this loop is gone */
    }
    return NULL;
}

/* Stops the loops: wakes each (repeatedly, as one may be about to sleep)
 * until all have ended.  Returns 1 if one of them had failed, else rc.
 * Past THREAD_STOP_MS the process exits at once, since loops still use
 * the handler. */
static int stop_threads(struct thread *threads, long started, int rc)
{
    long long deadline = wsb_now_ms() + THREAD_STOP_MS;
    long left = started;
    while (left > 0) {
        for (long i = 0; i < started; i++) {
            if (threads[i].joined)
                continue;
            if (pthread_tryjoin_np(threads[i].tid, NULL) == 0) {
                threads[i].joined = 1;
                left--;
                if (atomic_load(&threads[i].failed))
                    rc = 1;
            } else {
                pthread_kill(threads[i].tid, SIGUSR1);
            }
        }
        if (left == 0)
            break;
        if (wsb_now_ms() >= deadline) {
            wsb_log_warn("%ld request thread(s) did not finish within %d ms; exiting anyway", left, THREAD_STOP_MS);
            fflush(NULL);
            _exit(rc);
        }
        usleep(20 * 1000);
    }
    return rc;
}

/* Blocks the stop signals (they are taken by sigwait) and lets SIGUSR1
 * interrupt epoll_wait. */
static void signals_for_loops(sigset_t *stop_set, sigset_t *old)
{
    sigemptyset(stop_set);
    sigaddset(stop_set, SIGTERM);
    sigaddset(stop_set, SIGINT);
    sigaddset(stop_set, SIGHUP);
    sigaddset(stop_set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, stop_set, old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_wake;            /* no SA_RESTART: epoll_wait() returns EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* Starts a thread per loop; returns how many started (logged when not all). */
static long start_threads(struct thread *threads, long n)
{
    for (long i = 0; i < n; i++) {
        int e = pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]);
        if (e != 0) {
            wsb_log_error("cannot start thread %ld of %ld: %s", i + 1, n, strerror(e));
            return i;
        }
    }
    return n;
}

int wsb_serve_fastcgi(struct wsb_handler *h, int listen_fd, int tcp, long n)
{
    sigset_t stop_set, old;
    signals_for_loops(&stop_set, &old);
    atomic_store(&stopping, 0);
    int rc = 1;
    long started = 0;
    struct wsb_loops *loops = wsb_loops_new(h, listen_fd, tcp);
    struct thread *threads = calloc((size_t)n, sizeof *threads);
    if (loops == NULL || threads == NULL)
        goto cleanup;
    for (long i = 0; i < n; i++)
        if ((threads[i].loop = wsb_loop_new(loops)) == NULL)
            goto cleanup;
    wsb_handler_watch_state(h);   /* the priming read is watched: no second full read at the first refresh */
    wsb_handler_prime(h);
    /* Started with the stop signals blocked, so they reach only sigwait. */
    if (wsb_handler_start_refresher(h) != WSB_OK)
        wsb_log_warn("cannot start the state refresher thread; requests will refresh the state themselves");
    started = start_threads(threads, n);
    if (started == n) {
        int sig = 0;
        sigwait(&stop_set, &sig);
        if (sig != SIGUSR2) {
            wsb_log_debug("stopping on SIG%s", sigabbrev_np(sig));
            rc = 0;
        }
    }
cleanup:
    atomic_store(&stopping, 1);
    if (loops != NULL)
        wsb_loops_stop(loops);
    rc = stop_threads(threads, started, rc);
    for (long i = 0; threads != NULL && i < n; i++)
        wsb_loop_free(threads[i].loop);
    free(threads);
    wsb_loops_free(loops);
    wsb_handler_stop_refresher(h);
    /* The answers since the last refresh still count for the fleet. */
    if (started > 0)
        wsb_state_cache_flush(h->cache);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
