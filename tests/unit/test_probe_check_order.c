/* test_probe_check_order.c: the order in which a round's checks start
 * (probe/check_order.h): the nodes whose last check failed first. */
#include "check_order.h"
#include "t.h"

#include <stdlib.h>

static void test_failed_last(void)
{
    struct wsb_node n;
    wsb_node_init(&n);
    CHECK(!wsb_check_failed_last(NULL), "no record: not failed");
    CHECK(!wsb_check_failed_last(&n), "no check yet: not failed");
    n.ok_streak = 3;
    snprintf(n.last_error, sizeof n.last_error, "bad_report");
    CHECK(!wsb_check_failed_last(&n), "a passed check with a bad report: not failed");
    n.ok_streak = 0;
    n.fail_streak = 1;
    snprintf(n.last_error, sizeof n.last_error, "timeout");
    CHECK(wsb_check_failed_last(&n), "a fail streak: failed");
}

static void test_order(void)
{
    const unsigned char failed[] = { 0, 1, 0, 0, 1, 1, 0 };
    size_t *o = wsb_check_order(failed, 7);
    CHECK(o != NULL, "an order when some failed");
    if (o != NULL) {
        const size_t want[] = { 1, 4, 5, 0, 2, 3, 6 };
        for (size_t i = 0; i < 7; i++)
            CHECK(o[i] == want[i], "position %zu: %zu, want %zu", i, o[i], want[i]);
    }
    free(o);
    const unsigned char none[] = { 0, 0, 0 };
    CHECK(wsb_check_order(none, 3) == NULL, "none failed: the inventory's order (NULL)");
    CHECK(wsb_check_order(none, 0) == NULL, "no nodes: NULL");
    const unsigned char all[] = { 1, 1, 1 };
    o = wsb_check_order(all, 3);
    CHECK(o != NULL && o[0] == 0 && o[1] == 1 && o[2] == 2, "all failed: the inventory's order");
    free(o);
}

int main(void)
{
    test_failed_last();
    test_order();
    return t_done("test_probe_check_order");
}
