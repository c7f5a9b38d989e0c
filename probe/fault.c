/* fault.c: judging whether a round's failures are the probe's own. */
#include "fault.h"
#include "url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* 1 when the check could fail with local-looking outcome o: a host name
 * to resolve for dns, TLS to verify for tls_untrusted. */
static int could_fail_so(const struct wsb_inv_node *n, enum wsb_outcome o)
{
    struct wsb_url u;
    if (n->check.target == NULL || wsb_url_split(n->check.target, &u, NULL) != WSB_OK)
        return 0;
    if (o == WSB_OUT_TLS_UNTRUSTED)
        return strcmp(u.scheme, "https") == 0;
    unsigned char addr[16];
    return u.host[0] != '[' && inet_pton(AF_INET, u.host, addr) != 1;
}

void wsb_fault_judge(const struct wsb_inventory *inv, const struct wsb_check_result *results,
                     struct wsb_round_fault *f)
{
    static const enum wsb_outcome causes[] = { WSB_OUT_DNS, WSB_OUT_TLS_UNTRUSTED };
    memset(f, 0, sizeof *f);
    for (size_t c = 0; c < sizeof causes / sizeof causes[0]; c++) {
        size_t could = 0, did = 0, first = 0;
        for (size_t i = 0; i < inv->n; i++) {
            if (!could_fail_so(&inv->nodes[i], causes[c]))
                continue;
            could++;
            if (results[i].check == causes[c] && did++ == 0)
                first = i;
        }
        if (did >= WSB_FAULT_MIN_CHECKS && (double)did >= WSB_FAULT_SHARE * (double)could &&
            (double)did >= WSB_FAULT_ROUND_SHARE * (double)inv->n) {
            f->fault = 1;
            snprintf(f->cause, sizeof f->cause, "%zu of %zu checks failed with %s (first: node %s: %.100s)", did,
                     could, wsb_outcome_name(causes[c]), inv->nodes[first].node.id,
                     wsb_check_detail(results[first].detail));
            return;
        }
    }
}

void wsb_fault_canary(const struct wsb_inv_node *canary, const struct wsb_check_result *r,
                      struct wsb_round_fault *f)
{
    memset(f, 0, sizeof *f);
    if (r->check == WSB_OUT_OK)
        return;
    f->fault = 1;
    snprintf(f->cause, sizeof f->cause, "the canary %s %.80s failed: %s: %.100s",
             wsb_check_type_name(canary->check.type), canary->check.shown ? canary->check.shown : "?",
             wsb_outcome_name(r->check), wsb_check_detail(r->detail));
}
