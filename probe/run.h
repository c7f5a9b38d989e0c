/* run.h: what wsb-probe does once its command line is read: the rounds
 * (with the lock, the descriptor limit and the round budget) or a
 * run-time drain. */
#ifndef WSB_PROBE_RUN_H
#define WSB_PROBE_RUN_H

#include "cli.h"

/* Checks the inventory (and only that, with --check-inventory), takes the
 * probe lock and runs one round or rounds on the interval until --for has
 * passed or a stop is requested.  Logs what goes wrong; returns a
 * wsb_probe_exit status.  Leaves nothing behind: the lock is released. */
int wsb_run_probe(const struct wsb_probe_options *o);

/* "drain ID" or "undrain ID" (o->command): one write to <prefix>admin.
 * Logs what goes wrong; returns a wsb_probe_exit status. */
int wsb_run_drain(const struct wsb_probe_options *o);

/* Asks wsb_run_probe to stop after the current round.  Async-signal-safe:
 * for a SIGTERM or SIGINT handler. */
void wsb_run_stop(void);

#endif
