/* fault.h: whether a round's failures are the probe's own (README "Probe
 * faults").  Pure: judges check results, no I/O.
 *
 * One node's failure is the node's.  But a round in which nearly every
 * check that could fail a local-looking way (outcome.h: dns for checks of
 * host names, tls_untrusted for checks over TLS) failed that very way,
 * and these are at least half of the round's checks, says more about the
 * probe host (its resolver, its CA bundle) than about
 * the fleet: the round is then judged a probe fault as a whole, is not
 * counted, and the nodes keep their last verdicts.  Refusals and timeouts
 * are never local-looking: a region that goes dark goes offline.  A
 * configured canary that fails condemns the round whatever the nodes
 * said. */
#ifndef WSB_PROBE_FAULT_H
#define WSB_PROBE_FAULT_H

#include "check.h"
#include "inventory.h"
#include "status.h"

#define WSB_FAULT_MIN_CHECKS 2     /* a correlated cause needs this many failures */
#define WSB_FAULT_SHARE 0.8        /* ... and this share of the checks that could fail so */
#define WSB_FAULT_ROUND_SHARE 0.5  /* ... and this share of all the round's checks */

struct wsb_round_fault {
    int fault;                     /* 1: the round is the probe's fault */
    char cause[WSB_ERRLEN];        /* one line naming it, for the log and the round key */
};

/* Judges the checks of a round (results[i] for inv->nodes[i]) into *f. */
void wsb_fault_judge(const struct wsb_inventory *inv, const struct wsb_check_result *results,
                     struct wsb_round_fault *f);

/* Judges the canary's result into *f: any failure is a fault. */
void wsb_fault_canary(const struct wsb_inv_node *canary, const struct wsb_check_result *r,
                      struct wsb_round_fault *f);

#endif
