/* report.h: a node's load report, parsed from bytes (pure, no I/O):
 *
 *   {"connections": 1234}                  load = connections / capacity
 *   {"connections": 1234, "capacity": 20000}   (capacity overrides the inventory's)
 *   {"load": 0.42}                         load as given
 *
 * Other keys are ignored; "load" wins when both forms are present. */
#ifndef WSB_PROBE_REPORT_H
#define WSB_PROBE_REPORT_H

#include "node.h"
#include "outcome.h"

#include <stddef.h>

#define WSB_REPORT_MAX (64 * 1024)   /* bytes of a report body; more is report_too_large */
#define WSB_MAX_LOAD_VALUE 1e6

struct wsb_load_report {
    int has_load;
    double load;                /* when has_load: 0..1e6 */
    long long connections;      /* -1 when not reported */
    long long capacity;         /* -1 when not reported */
};

/* Parses a report body of len bytes.  required is 1 for a status_url
 * answer, which must be a report; 0 for the body of an http check, which
 * may also be empty (or blank) or a JSON object without "connections" and
 * "load", meaning "no report".  Returns WSB_OUT_OK with *out filled,
 * WSB_OUT_NO_REPORT, WSB_OUT_REPORT_TOO_LARGE (len > WSB_REPORT_MAX), or
 * WSB_OUT_BAD_REPORT with a short reason in why (WSB_ERRLEN bytes, may be
 * NULL); on anything but WSB_OUT_OK *out says "nothing reported".
 * Safe to call from several threads at once (the check threads): its
 * cJSON parses are serialised. */
enum wsb_outcome wsb_report_parse(const char *body, size_t len, int required, struct wsb_load_report *out,
                                  char *why);

/* Sets n->load_known, load, connections and capacity from a report (NULL:
 * none) and the inventory's capacity (-1: none).  A connections count
 * without any capacity leaves the load unknown.  Never fails. */
void wsb_report_apply(const struct wsb_load_report *r, long long inventory_capacity, struct wsb_node *n);

#endif
