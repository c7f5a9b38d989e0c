/* pool.h: the pre-forked pool: a supervisor that starts N worker
 * processes on one listening socket and restarts those that die. */
#ifndef WSB_POOL_H
#define WSB_POOL_H

#include "handler_config.h"

/* Runs the pool on listen_fd until SIGTERM, SIGINT or SIGHUP: n workers,
 * each serving with `threads` event loops (event_loop.h) and a handler
 * made from cfg (which stays the caller's).  A worker that dies is
 * restarted, after a delay that doubles while workers die right after
 * their start.  At a stop the workers get SIGTERM, then SIGKILL after 5 s
 * (or at once on a second stop signal).  `where` names the socket in the
 * log.  Returns the exit status: 0, or 1 when it could not start. */
int wsb_pool_run(const struct wsb_handler_config *cfg, int listen_fd, int tcp, const char *where, long n,
                 long threads);

#endif
