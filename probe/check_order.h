/* check_order.h: the order in which a round's checks start.
 *
 * A node whose last check failed mostly fails again, and a check that
 * hangs holds its slot until its timeout.  Started first, those timeouts
 * run while the other nodes are checked instead of after them, so that a
 * round ends about one timeout after its start rather than one timeout
 * after its last start, as long as the failed checks leave free slots
 * (--max-parallel) for the others.  Measured at 10,000 stand-ins of which
 * 10 % hang (timeout 1 s, 2 cores): a steady-state round of 2.9-3.0 s
 * became 1.7-2.0 s; the 1,000 hanging checks are then in flight together
 * (about 14 MB). */
#ifndef WSB_CHECK_ORDER_H
#define WSB_CHECK_ORDER_H

#include "node.h"

#include <stddef.h>

/* Whether prev (a node's record of the previous round; NULL: none) says
 * its last check failed: a fail streak (health.c; a bad load report after
 * a passed check, or a round the probe could not check it, is not one). */
int wsb_check_failed_last(const struct wsb_node *prev);

/* A permutation of 0..n-1 (malloc'ed; the caller frees it): the indexes i
 * with failed[i] != 0 first, then the others, each in increasing order.
 * NULL when n is 0, when none failed, or without memory: the caller then
 * keeps the inventory's order. */
size_t *wsb_check_order(const unsigned char *failed, size_t n);

#endif
