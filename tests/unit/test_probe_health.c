/* test_probe_health.c: hysteresis transitions and the node records a round
 * builds (health.c, pure). */
#include "health.h"
#include "status.h"
#include "t.h"

static const struct wsb_health_policy P23 = { 2, 3, 0, 0 }, P11 = { 1, 1, 0, 0 }, P21 = { 2, 1, 0, 0 };

static struct wsb_health H(int online, unsigned ok, unsigned fail, long long changed)
{
    struct wsb_health h = { online, ok, fail, changed, "" };
    return h;
}

static void test_first_check(void)
{
    struct wsb_health next;
    CHECK_INT(wsb_health_step(NULL, WSB_OUT_OK, &P23, 100, &next), WSB_HEALTH_FIRST_UP);
    CHECK(next.online == 1 && next.ok_streak == 1 && next.fail_streak == 0 && next.changed_at == 100, "first ok");
    CHECK_INT(wsb_health_step(NULL, WSB_OUT_TIMEOUT, &P23, 100, &next), WSB_HEALTH_FIRST_DOWN);
    CHECK(next.online == 0 && next.ok_streak == 0 && next.fail_streak == 1 && next.changed_at == 100, "first fail");
}

static void test_fall(void)
{
    struct wsb_health h = H(1, 7, 0, 10), next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_REFUSED, &P23, 100, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 1 && next.fail_streak == 1 && next.ok_streak == 0 && next.changed_at == 10, "1 of 3");
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_TIMEOUT, &P23, 110, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 1 && next.fail_streak == 2, "2 of 3");
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_BAD_STATUS, &P23, 120, &next), WSB_HEALTH_DOWN);
    CHECK(next.online == 0 && next.fail_streak == 3 && next.changed_at == 120, "offline at 3");
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_TIMEOUT, &P23, 130, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 0 && next.fail_streak == 4 && next.changed_at == 120, "stays offline");
}

static void test_success_breaks_failures(void)
{
    struct wsb_health h = H(1, 0, 2, 10), next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &P23, 100, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 1 && next.fail_streak == 0 && next.ok_streak == 1, "reset");
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_TIMEOUT, &P23, 110, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 1 && next.fail_streak == 1, "counting again from 1");
}

static void test_rise(void)
{
    struct wsb_health h = H(0, 0, 5, 10), next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &P23, 100, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 0 && next.ok_streak == 1 && next.fail_streak == 0, "1 of 2");
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_TIMEOUT, &P23, 110, &next), WSB_HEALTH_SAME);
    CHECK(next.online == 0 && next.ok_streak == 0 && next.fail_streak == 1, "failure resets the rise");
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &P23, 120, &next), WSB_HEALTH_SAME);
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &P23, 130, &next), WSB_HEALTH_UP);
    CHECK(next.online == 1 && next.ok_streak == 2 && next.changed_at == 130, "online at 2");
}

static void test_rise_fall_one(void)
{
    struct wsb_health h = H(1, 3, 0, 10), next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_TIMEOUT, &P11, 100, &next), WSB_HEALTH_DOWN);
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &P11, 110, &next), WSB_HEALTH_UP);
}

static void test_probe_fault(void)
{
    struct wsb_health h = H(1, 4, 0, 10), next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_PROBE_NO_FD, &P21, 100, &next), WSB_HEALTH_KEPT);
    CHECK(next.online == 1 && next.ok_streak == 4 && next.fail_streak == 0 && next.changed_at == 10, "kept");
    h = H(0, 0, 3, 10);
    CHECK_INT(wsb_health_step(&h, WSB_OUT_PROBE_NO_MEMORY, &P11, 100, &next), WSB_HEALTH_KEPT);
    CHECK(next.online == 0 && next.fail_streak == 3, "kept offline");
    CHECK_INT(wsb_health_step(NULL, WSB_OUT_PROBE_ERROR, &P11, 100, &next), WSB_HEALTH_KEPT);
    CHECK(next.online == 0 && next.ok_streak == 0 && next.fail_streak == 0, "no history: offline");
}

static void test_streak_saturates(void)
{
    struct wsb_health h = H(1, WSB_STREAK_MAX, 0, 10), next;
    wsb_health_step(&h, WSB_OUT_OK, &P23, 100, &next);
    CHECK_INT(next.ok_streak, WSB_STREAK_MAX);
    h = H(0, 0, WSB_STREAK_MAX, 10);
    wsb_health_step(&h, WSB_OUT_DNS, &P23, 100, &next);
    CHECK_INT(next.fail_streak, WSB_STREAK_MAX);
}

/* An inventory node with a websocket check, rise 2, fall 2, capacity 100. */
static void inv_node(struct wsb_inv_node *n, const char *endpoint)
{
    memset(n, 0, sizeof *n);
    wsb_node_init(&n->node);
    n->node.id = strdup("eu-1");
    n->node.endpoint = strdup(endpoint);
    n->node.location = strdup("Frankfurt");
    n->node.has_coords = 1;
    n->node.lat = 50.11;
    n->node.lon = 8.68;
    memcpy(n->node.country, "DE", 3);
    memcpy(n->node.continent, "EU", 3);
    n->node.versions[0] = 1;
    n->node.versions[1] = 2;
    n->node.n_versions = 2;
    n->capacity = 100;
    n->check.type = WSB_CHECK_WEBSOCKET;
    n->check.rise = 2;
    n->check.fall = 2;
}

static void inv_node_free(struct wsb_inv_node *n)
{
    wsb_node_clear(&n->node);
}

static struct wsb_check_result result(enum wsb_outcome check, enum wsb_outcome report, long long conns)
{
    struct wsb_check_result r;
    memset(&r, 0, sizeof r);
    r.check = check;
    r.report = report;
    r.load.connections = conns;
    r.load.capacity = -1;
    return r;
}

static void test_record_first(void)
{
    struct wsb_inv_node in;
    inv_node(&in, "wss://eu-1.example/ws");
    struct wsb_check_result res = result(WSB_OUT_OK, WSB_OUT_OK, 25);
    struct wsb_node out;
    enum wsb_health_change ch;
    CHECK_INT(wsb_health_record(&in, NULL, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_FIRST_UP);
    CHECK_STR(out.id, "eu-1");
    CHECK_STR(out.endpoint, "wss://eu-1.example/ws");
    CHECK_STR(out.location, "Frankfurt");
    CHECK(out.has_coords && out.lat == 50.11 && out.lon == 8.68, "coords");
    CHECK_STR(out.country, "DE");
    CHECK_INT(out.n_versions, 2);
    CHECK_INT(out.online, 1);
    CHECK_INT(out.load_known, 1);
    CHECK(fabs(out.load - 0.25) < 1e-12, "load %g", out.load);
    CHECK_INT(out.connections, 25);
    CHECK_INT(out.capacity, 100);
    CHECK_INT(out.checked_at, 1000);
    CHECK_INT(out.changed_at, 1000);
    CHECK_STR(out.last_error, "ok");
    CHECK_INT(out.ok_streak, 1);
    /* the record encodes (the writer's own checks pass) */
    char *json = NULL, err[WSB_ERRLEN];
    CHECK_INT(wsb_node_encode(&out, &json, err), WSB_OK);
    free(json);
    wsb_node_clear(&out);

    res = result(WSB_OUT_TIMEOUT, WSB_OUT_OK, 25);   /* a failed check ignores any report */
    CHECK_INT(wsb_health_record(&in, NULL, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_FIRST_DOWN);
    CHECK_INT(out.online, 0);
    CHECK_INT(out.load_known, 0);
    CHECK_INT(out.connections, -1);
    CHECK_STR(out.last_error, "timeout");
    CHECK_INT(out.slow_start_s, -1);   /* not in the inventory: not in the record */
    CHECK_INT(out.max_new_per_s, -1);
    wsb_node_clear(&out);

    /* the inventory's pacing keys go into the record as given, up or down */
    in.node.slow_start_s = 0;
    in.node.max_new_per_s = 250;
    res = result(WSB_OUT_OK, WSB_OUT_OK, 25);
    CHECK_INT(wsb_health_record(&in, NULL, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(out.slow_start_s, 0);
    CHECK_INT(out.max_new_per_s, 250);
    CHECK_INT(wsb_node_encode(&out, &json, err), WSB_OK);
    CHECK(json != NULL && strstr(json, "\"slow_start_s\":0") != NULL && strstr(json, "\"max_new_per_s\":250") != NULL,
          "record %s", json ? json : "(none)");
    free(json);
    wsb_node_clear(&out);
    inv_node_free(&in);
}

static void test_record_history(void)
{
    struct wsb_inv_node in;
    inv_node(&in, "wss://eu-1.example/ws");
    struct wsb_node prev;
    wsb_node_init(&prev);
    prev.endpoint = strdup("wss://eu-1.example/ws");
    prev.online = 1;
    prev.ok_streak = 9;
    prev.changed_at = 500;
    prev.checked_at = 990;
    prev.load_known = 1;
    prev.load = 0.7;
    prev.connections = 70;
    prev.capacity = 100;
    snprintf(prev.last_error, sizeof prev.last_error, "ok");

    struct wsb_node out;
    enum wsb_health_change ch;
    struct wsb_check_result res = result(WSB_OUT_REFUSED, WSB_OUT_NO_REPORT, -1);
    CHECK_INT(wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_SAME);
    CHECK_INT(out.online, 1);
    CHECK_INT(out.fail_streak, 1);
    CHECK_INT(out.changed_at, 500);
    CHECK_STR(out.last_error, "refused");
    prev.fail_streak = out.fail_streak;
    prev.ok_streak = out.ok_streak;
    wsb_node_clear(&out);
    CHECK_INT(wsb_health_record(&in, &prev, &res, 1010, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_DOWN);
    CHECK_INT(out.online, 0);
    CHECK_INT(out.changed_at, 1010);
    wsb_node_clear(&out);

    /* A bad report leaves the node up, with its load unknown and the
     * report's outcome as last_error. */
    prev.fail_streak = 0;
    prev.ok_streak = 9;
    res = result(WSB_OUT_OK, WSB_OUT_BAD_REPORT, -1);
    CHECK_INT(wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_SAME);
    CHECK_INT(out.online, 1);
    CHECK_INT(out.load_known, 0);
    CHECK_INT(out.capacity, 100);
    CHECK_STR(out.last_error, "bad_report");
    wsb_node_clear(&out);
    res = result(WSB_OUT_OK, WSB_OUT_REPORT_TOO_LARGE, -1);
    wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch);
    CHECK_STR(out.last_error, "report_too_large");
    wsb_node_clear(&out);
    res = result(WSB_OUT_OK, WSB_OUT_NO_REPORT, -1);
    wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch);
    CHECK_STR(out.last_error, "ok");
    CHECK_INT(out.load_known, 0);
    wsb_node_clear(&out);

    /* The report fetch hit a probe fault: the previous load is kept. */
    res = result(WSB_OUT_OK, WSB_OUT_PROBE_NO_FD, -1);
    wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch);
    CHECK_STR(out.last_error, "ok");
    CHECK(out.load_known && out.load == 0.7 && out.connections == 70, "previous load kept");
    wsb_node_clear(&out);

    /* The check hit a probe fault: everything is kept as it was. */
    res = result(WSB_OUT_PROBE_NO_FD, WSB_OUT_NO_REPORT, -1);
    CHECK_INT(wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_KEPT);
    CHECK_INT(out.online, 1);
    CHECK_INT(out.ok_streak, 9);
    CHECK_INT(out.checked_at, 990);
    CHECK_STR(out.last_error, "ok");
    CHECK(out.load_known && out.load == 0.7, "load kept");
    wsb_node_clear(&out);

    /* ... but not beyond max_age after the last real check. */
    CHECK_INT(wsb_health_record(&in, &prev, &res, 990 + 181, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_DOWN);
    CHECK_INT(out.online, 0);
    CHECK_STR(out.last_error, "probe_no_fd");
    wsb_node_clear(&out);

    /* A new endpoint for the same id is a new server: no history. */
    struct wsb_inv_node moved;
    inv_node(&moved, "wss://eu-1b.example/ws");
    res = result(WSB_OUT_TIMEOUT, WSB_OUT_NO_REPORT, -1);
    CHECK_INT(wsb_health_record(&moved, &prev, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_FIRST_DOWN);
    CHECK_INT(out.online, 0);
    wsb_node_clear(&out);
    inv_node_free(&moved);

    /* Drain comes from the inventory. */
    in.node.drain = 1;
    res = result(WSB_OUT_OK, WSB_OUT_NO_REPORT, -1);
    wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch);
    CHECK_INT(out.drain, 1);
    CHECK_INT(out.online, 1);
    wsb_node_clear(&out);

    wsb_node_clear(&prev);
    inv_node_free(&in);
}

/* A node that fails every other check never has fall (3) failures in a
 * row; flap damping (4 of the last 10) takes it offline at its fourth
 * failure, and it comes back only after rise (2) successes in a row,
 * which it never has while it alternates; then its window starts afresh. */
static void test_flapping(void)
{
    const struct wsb_health_policy pol = { 2, 3, 10, 4 };
    struct wsb_health h, next;
    CHECK_INT(wsb_health_step(NULL, WSB_OUT_OK, &pol, 0, &h), WSB_HEALTH_FIRST_UP);
    int went_down_at = -1;
    for (int i = 1; i <= 12 && went_down_at < 0; i++) {
        enum wsb_health_change ch = wsb_health_step(&h, i % 2 ? WSB_OUT_TIMEOUT : WSB_OUT_OK, &pol, i, &next);
        h = next;
        if (ch == WSB_HEALTH_DOWN)
            went_down_at = i;
        CHECK(h.fail_streak < 3, "check %d: never 3 failures in a row", i);
    }
    CHECK_INT(went_down_at, 7);   /* failures at checks 1, 3, 5, 7 */
    CHECK_STR(h.recent, "-+-+-+-+");
    CHECK_INT(wsb_health_recent_failures(h.recent, 10), 4);
    for (int i = 0; i < 6; i++) {   /* still alternating: stays offline */
        CHECK_INT(wsb_health_step(&h, i % 2 ? WSB_OUT_TIMEOUT : WSB_OUT_OK, &pol, 100 + i, &next), WSB_HEALTH_SAME);
        h = next;
    }
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &pol, 8, &next), WSB_HEALTH_SAME);
    h = next;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_OK, &pol, 9, &next), WSB_HEALTH_UP);
    h = next;
    CHECK_STR(h.recent, "++");   /* afresh: the outage is not counted twice */
    CHECK_INT(wsb_health_step(&h, WSB_OUT_REFUSED, &pol, 10, &next), WSB_HEALTH_SAME);
    h = next;
    CHECK_INT(h.fail_streak, 1);

    /* The window forgets: ten good checks later one failure is only one. */
    for (int i = 11; i <= 30; i++) {
        wsb_health_step(&h, WSB_OUT_OK, &pol, i, &next);
        h = next;
    }
    CHECK_STR(h.recent, "++++++++++");
    CHECK_INT(h.online, 1);
    CHECK_INT(wsb_health_step(&h, WSB_OUT_REFUSED, &pol, 31, &next), WSB_HEALTH_SAME);

    /* Off (flap_failures 0): the same node stays online. */
    const struct wsb_health_policy off = { 2, 3, 10, 0 };
    wsb_health_step(NULL, WSB_OUT_OK, &off, 0, &h);
    for (int i = 1; i <= 20; i++) {
        CHECK_INT(wsb_health_step(&h, i % 2 ? WSB_OUT_TIMEOUT : WSB_OUT_OK, &off, i, &next), WSB_HEALTH_SAME);
        h = next;
    }
    CHECK_INT(h.online, 1);
    /* A probe fault adds nothing to the window. */
    struct wsb_health kept;
    CHECK_INT(wsb_health_step(&h, WSB_OUT_PROBE_NETWORK, &pol, 40, &kept), WSB_HEALTH_KEPT);
    CHECK_STR(kept.recent, h.recent);
}

/* The window survives in the record, as the previous round's record is
 * all a cron run has. */
static void test_record_recent(void)
{
    struct wsb_inv_node in;
    inv_node(&in, "wss://eu-1.example/ws");
    in.check.fall = 3;
    in.check.flap_checks = 6;
    in.check.flap_failures = 4;
    struct wsb_node prev;
    wsb_node_init(&prev);
    prev.endpoint = strdup("wss://eu-1.example/ws");
    prev.online = 1;
    prev.ok_streak = 1;
    prev.checked_at = 990;
    snprintf(prev.recent, sizeof prev.recent, "+-+--+-+");
    struct wsb_node out;
    enum wsb_health_change ch;
    struct wsb_check_result res = result(WSB_OUT_TIMEOUT, WSB_OUT_NO_REPORT, -1);
    CHECK_INT(wsb_health_record(&in, &prev, &res, 1000, 180, &out, &ch), WSB_OK);
    CHECK_INT(ch, WSB_HEALTH_DOWN);
    CHECK_STR(out.recent, "-+-+--");   /* kept to flap_checks */
    char *json = NULL;
    char err[WSB_ERRLEN];
    CHECK_INT(wsb_node_encode(&out, &json, err), WSB_OK);
    CHECK(json != NULL && strstr(json, "\"recent\":\"-+-+--\"") != NULL, "%s", json ? json : "");
    struct wsb_node back;
    CHECK_INT(wsb_node_decode("eu-1", 4, json, strlen(json), &back, err), WSB_OK);
    CHECK_STR(back.recent, "-+-+--");
    wsb_node_clear(&back);
    const char *bad = "{\"endpoint\":\"wss://a/\",\"location\":\"x\",\"versions\":[\"v1\"],\"recent\":\"+x\"}";
    CHECK_INT(wsb_node_decode("eu-1", 4, bad, strlen(bad), &back, err), WSB_EINVAL);
    CHECK(strstr(err, "recent") != NULL, "%s", err);
    free(json);
    wsb_node_clear(&out);
    wsb_node_clear(&prev);
    inv_node_free(&in);
}

int main(void)
{
    T_RUN(test_first_check);
    T_RUN(test_fall);
    T_RUN(test_success_breaks_failures);
    T_RUN(test_rise);
    T_RUN(test_rise_fall_one);
    T_RUN(test_probe_fault);
    T_RUN(test_streak_saturates);
    T_RUN(test_record_first);
    T_RUN(test_record_history);
    T_RUN(test_flapping);
    T_RUN(test_record_recent);
    return t_done("test_probe_health");
}
