/* parallel.h: running a few jobs at once on threads of their own. */
#ifndef WSB_PROBE_PARALLEL_H
#define WSB_PROBE_PARALLEL_H

#include <stddef.h>

/* Runs fn on each of the n jobs of args (an array of n elements of size
 * bytes each) at once, and returns when every one has returned: job 0 on
 * the calling thread, the others on threads of their own.  A job whose
 * thread cannot be created (a thread limit, no memory) runs on the calling
 * thread after job 0, so that every job runs: it is then only later, and
 * the shortage is logged once a run. */
void wsb_parallel_run(void (*fn)(void *job), void *args, size_t size, size_t n);

#endif
