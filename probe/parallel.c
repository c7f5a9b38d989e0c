/* parallel.c: running a few jobs at once on threads of their own (see
 * parallel.h). */
#include "parallel.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
    void (*fn)(void *);
    void *arg;
};

static void *job_main(void *p)
{
    struct job *j = p;
    j->fn(j->arg);
    return NULL;
}

/* Threads are given this much stack: a job's own frames (a part of a
 * round: libcurl's, OpenSSL's) stay far below it, and glibc's default (the
 * stack rlimit, 8 MiB) would only be address space. */
#define JOB_STACK (512 * 1024)

void wsb_parallel_run(void (*fn)(void *job), void *args, size_t size, size_t n)
{
    if (n == 0)
        return;
    char *base = args;
    pthread_t *tids = n > 1 ? calloc(n - 1, sizeof *tids) : NULL;
    struct job *jobs = n > 1 ? calloc(n - 1, sizeof *jobs) : NULL;
    unsigned char *started = n > 1 ? calloc(n - 1, 1) : NULL;
    pthread_attr_t attr;
    int have_attr = n > 1 && pthread_attr_init(&attr) == 0;
    if (have_attr)
        pthread_attr_setstacksize(&attr, JOB_STACK);   /* on failure: the default */
    size_t refused = 0;
    int why = 0;
    for (size_t k = 1; k < n; k++) {
        if (tids == NULL || jobs == NULL || started == NULL) {
            refused++;
            continue;
        }
        jobs[k - 1] = (struct job){ fn, base + k * size };
        int rc = pthread_create(&tids[k - 1], have_attr ? &attr : NULL, job_main, &jobs[k - 1]);
        if (rc == 0)
            started[k - 1] = 1;
        else {
            refused++;
            why = rc;
        }
    }
    if (have_attr)
        pthread_attr_destroy(&attr);
    fn(base);
    /* The jobs no thread took, one after the other. */
    for (size_t k = 1; k < n; k++)
        if (started == NULL || !started[k - 1])
            fn(base + k * size);
    for (size_t k = 1; k < n; k++)
        if (started != NULL && started[k - 1])
            pthread_join(tids[k - 1], NULL);
    if (refused > 0) {
        static int told;
        if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
            wsb_log_warn("%zu of %zu threads could not start (%s): their work ran on the calling thread, later",
                         refused, n - 1, why ? strerror(why) : "out of memory");
    }
    free(tids);
    free(jobs);
    free(started);
}
