/* test_probe_fault.c: when a round's failures are the probe's (fault.c,
 * pure), and the inventory's canary and flap settings. */
#include "fault.h"
#include "inventory.h"
#include "status.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An inventory of n nodes, node i's endpoint "<head><i><tail>". */
static int load(struct wsb_inventory *inv, size_t n, const char *head, const char *tail, const char *extra_top)
{
    char text[16384], err[WSB_ERRLEN];
    size_t used = (size_t)snprintf(text, sizeof text, "{%s\"defaults\": {\"versions\": [\"v1\"], \"location\": \"X\"}, \"nodes\": [",
                                   extra_top);
    for (size_t i = 0; i < n; i++) {
        char ep[200];
        snprintf(ep, sizeof ep, "%s%zu%s", head, i, tail);
        used += (size_t)snprintf(text + used, sizeof text - used, "%s{\"id\": \"n%zu\", \"endpoint\": \"%s\"}",
                                 i ? "," : "", i, ep);
    }
    snprintf(text + used, sizeof text - used, "]}");
    int status = wsb_inventory_parse("inv.json", text, strlen(text), inv, err);
    CHECK(status == WSB_OK, "%s", err);
    return status;
}

/* Sets r[0..n) to outcome o, each with a detail of its own ("detail i").
 * r must hold no detail or details of its own (zeroed first); the test
 * frees them with wsb_check_results_clear. */
static void results_all(struct wsb_check_result *r, size_t n, enum wsb_outcome o)
{
    wsb_check_results_clear(r, n);
    for (size_t i = 0; i < n; i++) {
        char d[16];
        memset(&r[i], 0, sizeof r[i]);
        r[i].check = o;
        snprintf(d, sizeof d, "detail %zu", i);
        wsb_check_detail_set(&r[i].detail, d);
    }
}

static void test_correlated_local(void)
{
    struct wsb_inventory inv;
    struct wsb_check_result r[5];
    memset(r, 0, sizeof r);
    struct wsb_round_fault f;
    if (load(&inv, 5, "wss://node", ".example.net/ws", "") != WSB_OK)
        return;
    /* Every TLS verification failing against the bundle: the probe's. */
    results_all(r, 5, WSB_OUT_TLS_UNTRUSTED);
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 1);
    CHECK(strstr(f.cause, "5 of 5 checks failed with tls_untrusted") != NULL, "%s", f.cause);
    CHECK(strstr(f.cause, "node n0") != NULL, "%s", f.cause);
    /* Four of five (80 %): still; three of five: the nodes'. */
    r[4].check = WSB_OUT_OK;
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 1);
    r[3].check = WSB_OUT_OK;
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 0);
    /* Every name failing to resolve: the probe's resolver. */
    results_all(r, 5, WSB_OUT_DNS);
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 1);
    CHECK(strstr(f.cause, "with dns") != NULL, "%s", f.cause);
    /* Refusals and timeouts together are a real outage. */
    results_all(r, 5, WSB_OUT_REFUSED);
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 0);
    results_all(r, 5, WSB_OUT_TIMEOUT);
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 0);
    /* An expired certificate on every node is the nodes' too. */
    results_all(r, 5, WSB_OUT_TLS_VERIFY);
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 0);
    wsb_inventory_free(&inv);
    wsb_check_results_clear(r, 5);
}

/* Nodes named by address cannot fail dns, nor plain ones TLS: they are
 * not counted among the checks that could, so two names that fail among
 * addresses that pass are still the resolver's. */
static void test_population(void)
{
    struct wsb_inventory inv;
    struct wsb_check_result r[4];
    memset(r, 0, sizeof r);
    struct wsb_round_fault f;
    if (load(&inv, 4, "wss://127.0.0.", ":9000/ws", "") != WSB_OK)
        return;
    results_all(r, 4, WSB_OUT_DNS);   /* cannot happen: no names */
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 0);
    results_all(r, 4, WSB_OUT_TLS_UNTRUSTED);
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 1);
    wsb_inventory_free(&inv);
    if (load(&inv, 1, "wss://only", ".example.net/ws", "") != WSB_OK)
        return;
    results_all(r, 1, WSB_OUT_TLS_UNTRUSTED);   /* one node: its own */
    wsb_fault_judge(&inv, r, &f);
    CHECK_INT(f.fault, 0);
    wsb_inventory_free(&inv);
    /* Two names among eight addresses: both failing dns is under half the
     * round: those two nodes' own (their records deleted, say). */
    struct wsb_inventory mixed;
    struct wsb_check_result m[10];
    memset(m, 0, sizeof m);
    if (load(&mixed, 10, "wss://127.0.0.", ":9000/ws", "") != WSB_OK)
        return;
    results_all(m, 10, WSB_OUT_OK);
    for (int i = 0; i < 2; i++) {
        free(mixed.nodes[i].check.target);
        mixed.nodes[i].check.target = strdup(i ? "https://b.example.net/ws" : "https://a.example.net/ws");
        m[i].check = WSB_OUT_DNS;
    }
    wsb_fault_judge(&mixed, m, &f);
    CHECK_INT(f.fault, 0);
    wsb_inventory_free(&mixed);
    wsb_check_results_clear(r, 4);
    wsb_check_results_clear(m, 10);
}

static void test_canary(void)
{
    struct wsb_inventory inv;
    struct wsb_check_result r[1];
    memset(r, 0, sizeof r);
    struct wsb_round_fault f;
    if (load(&inv, 1, "wss://a", ".example.net/ws", "\"canary\": {\"address\": \"127.0.0.1:53\", \"timeout_ms\": 500}, ") !=
        WSB_OK)
        return;
    CHECK(inv.canary != NULL, "canary parsed");
    CHECK_INT(inv.canary->check.type, WSB_CHECK_TCP);
    CHECK_INT(inv.canary->check.timeout_ms, 500);
    results_all(r, 1, WSB_OUT_OK);
    wsb_fault_canary(inv.canary, r, &f);
    CHECK_INT(f.fault, 0);
    results_all(r, 1, WSB_OUT_REFUSED);
    wsb_fault_canary(inv.canary, r, &f);
    CHECK_INT(f.fault, 1);
    CHECK(strstr(f.cause, "the canary tcp 127.0.0.1:53 failed: refused") != NULL, "%s", f.cause);
    wsb_inventory_free(&inv);
    wsb_check_results_clear(r, 1);

    static const struct { const char *canary, *want; } bad[] = {
        { "{\"type\": \"tcp\"}", "canary.address: missing" },
        { "{\"type\": \"http\", \"address\": \"a:1\"}", "canary.url: missing" },
        { "{\"type\": \"ftp\", \"url\": \"x\"}", "canary.type: must be" },
        { "{\"adress\": \"a:1\"}", "did you mean \"address\"" },
        { "{\"address\": \"a\"}", "canary.address" },
        { "[1]", "canary" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512], err[WSB_ERRLEN] = "";
        snprintf(text, sizeof text, "{\"canary\": %s, \"nodes\": []}", bad[i].canary);
        CHECK_INT(wsb_inventory_parse("inv.json", text, strlen(text), &inv, err), WSB_EINVAL);
        CHECK(strstr(err, bad[i].want) != NULL, "%s: %s", bad[i].canary, err);
    }
}

static void test_flap_settings(void)
{
    static const struct { const char *check; unsigned checks, failures; const char *err; } cases[] = {
        { "{}", 10, 4, NULL },                                   /* fall 3: 4 of 10 */
        { "{\"fall\": 6}", 14, 7, NULL },                        /* fall + 1 of twice that */
        { "{\"flap_failures\": 0}", 10, 0, NULL },               /* off */
        { "{\"flap_checks\": 20, \"flap_failures\": 5}", 20, 5, NULL },
        { "{\"fall\": 40}", 64, 41, NULL },
        { "{\"fall\": 80}", 64, 0, NULL },                       /* fall beyond the window: off */
        { "{\"flap_failures\": 3}", 0, 0, "greater than fall" },
        { "{\"flap_checks\": 5, \"flap_failures\": 6}", 0, 0, "cannot happen" },
        { "{\"flap_checks\": 65}", 0, 0, "flap_checks" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], err[WSB_ERRLEN] = "";
        struct wsb_inventory inv;
        snprintf(text, sizeof text,
                 "{\"nodes\": [{\"id\": \"a\", \"endpoint\": \"wss://a/\", \"location\": \"A\", \"versions\": [\"v1\"], "
                 "\"check\": %s}]}", cases[i].check);
        int status = wsb_inventory_parse("inv.json", text, strlen(text), &inv, err);
        if (cases[i].err != NULL) {
            CHECK_INT(status, WSB_EINVAL);
            CHECK(strstr(err, cases[i].err) != NULL, "%s: %s", cases[i].check, err);
            continue;
        }
        CHECK(status == WSB_OK, "%s: %s", cases[i].check, err);
        if (status != WSB_OK)
            continue;
        CHECK_INT(inv.nodes[0].check.flap_checks, cases[i].checks);
        CHECK_INT(inv.nodes[0].check.flap_failures, cases[i].failures);
        wsb_inventory_free(&inv);
    }
}

int main(void)
{
    T_RUN(test_correlated_local);
    T_RUN(test_population);
    T_RUN(test_canary);
    T_RUN(test_flap_settings);
    return t_done("test_probe_fault");
}
