/* fastcgi_process.h: one FastCGI process: its event loops on threads, the
 * state read before the first request, the refresher, and the stop. */
#ifndef WSB_FASTCGI_PROCESS_H
#define WSB_FASTCGI_PROCESS_H

#include "handler.h"

/* Serves FastCGI on listen_fd (tcp: accepted connections get TCP_NODELAY)
 * with `threads` event loops (event_loop.h), one per thread, until
 * SIGTERM, SIGINT or SIGHUP, or until a loop fails.  Returns the process
 * exit status: 0 after a signal, 1 on a failure. */
int wsb_serve_fastcgi(struct wsb_handler *h, int listen_fd, int tcp, long threads);

#endif
