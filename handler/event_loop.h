/* event_loop.h: serving FastCGI in one process: T threads, each with an
 * epoll loop of its own over the shared listening socket. */
#ifndef WSB_EVENT_LOOP_H
#define WSB_EVENT_LOOP_H

#include "handler.h"

/* Serves FastCGI on listen_fd (tcp: accepted connections get TCP_NODELAY)
 * with `threads` loops until SIGTERM, SIGINT or SIGHUP, or until the
 * socket fails.  No connection can hold a loop: a request is handed to
 * libfcgi only once its parameters are all in the socket, a body not
 * there yet is not waited for (the answer goes first, then the rest is
 * read and dropped), and answers are written without blocking.  Kept
 * connections wait in the loop at no cost; one that sends only part of a
 * request is closed after 10 s.  Returns the process exit status: 0
 * after a signal, 1 on a failure. */
int wsb_serve_fastcgi(struct wsb_handler *h, int listen_fd, int tcp, long threads);

#endif
