/* explain.h: --explain and the reasons of --check: how the handler sees
 * the fleet, told from the same functions that select (select.h), never a
 * second copy of the policy. */
#ifndef WSB_EXPLAIN_H
#define WSB_EXPLAIN_H

#include "handler.h"
#include "netaddr.h"
#include "state_read.h"

#include <stdio.h>

/* Which case of the all-down policy the state st is in (README "When nodes
 * are down"): live, live while the probe reports a fault, or expired.
 * Writes one phrase into buf; cannot fail. */
void wsb_explain_state(const struct wsb_state *st, char *buf, size_t len);

/* The nodes of s that are not eligible, counted per filter of select.h:
 * "1 offline, 1 ws:// endpoint not served (WSB_ALLOW_INSECURE_WS=0)";
 * "" when every node is eligible.  Cannot fail (truncates to len). */
void wsb_explain_filters(const struct wsb_snapshot *s, char *buf, size_t len);

/* --explain: reads the state and the fleet's assignment counts once, then
 * writes to out how a client at ip asking for version is answered: its
 * location, every node (more than WSB_EXPLAIN_FULL of them: a count per
 * reason, the candidates and the nearest excluded ones) and the answer;
 * as one JSON object when json is set.  Returns WSB_OK, or the status of
 * a failure to read the state (WSB_EREDIS, ...) or WSB_ENOMEM with the
 * reason in err (WSB_ERRLEN bytes) and nothing written. */
#define WSB_EXPLAIN_FULL 50
int wsb_explain(struct wsb_handler *h, const struct wsb_ip *ip, unsigned version, int json, FILE *out, char *err);

#endif
