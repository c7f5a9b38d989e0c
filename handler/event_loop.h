/* event_loop.h: FastCGI event loops: each serves the connections it
 * accepted from the listening socket it shares with the process's other
 * loops (and the pool's other processes), without ever waiting on one.
 * A request is handed to libfcgi only once its parameters are all in the
 * socket; a body not there within 100 ms is answered first and dropped;
 * answers are written without blocking; kept connections wait at no cost;
 * one that sends part of a request, or nothing, is closed after 10 s.
 * Threads, signals and the stop are fastcgi_process.c's. */
#ifndef WSB_EVENT_LOOP_H
#define WSB_EVENT_LOOP_H

#include "handler.h"

/* What the loops of one process share: the handler, the listening socket,
 * the stop flag and the count of open connections. */
struct wsb_loops;

/* Makes the listening socket non-blocking (and its accepted connections'
 * receive buffer large enough for a whole request).  h and listen_fd stay
 * the caller's.  Returns NULL, logged, when the socket cannot be set up or
 * on ENOMEM.  Free with wsb_loops_free after every loop is freed. */
struct wsb_loops *wsb_loops_new(struct wsb_handler *h, int listen_fd, int tcp);
void wsb_loops_free(struct wsb_loops *s);

/* Asks every loop to stop; each notices it at its next wake-up (interrupt
 * a sleeping one with a signal whose handler has no SA_RESTART). */
void wsb_loops_stop(struct wsb_loops *s);

/* One loop over s.  Returns NULL, logged, on failure.  Free with
 * wsb_loop_free (NULL accepted), which closes its connections. */
struct wsb_loop;
struct wsb_loop *wsb_loop_new(struct wsb_loops *s);
void wsb_loop_free(struct wsb_loop *l);

/* Runs l on the calling thread until wsb_loops_stop (then answers what is
 * already whole in its sockets and returns 0) or until the listening
 * socket or epoll fails (logged; returns -1). */
int wsb_loop_run(struct wsb_loop *l);

#endif
