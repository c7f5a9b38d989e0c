/* check_order.c: the order in which a round's checks start (see
 * check_order.h). */
#include "check_order.h"

#include <stdlib.h>

int wsb_check_failed_last(const struct wsb_node *prev)
{
    return prev != NULL && prev->fail_streak > 0;
}

size_t *wsb_check_order(const unsigned char *failed, size_t n)
{
    size_t n_failed = 0;
    for (size_t i = 0; i < n; i++)
        n_failed += failed[i] != 0;
    if (n_failed == 0)
        return NULL;
    size_t *order = malloc(n * sizeof *order);
    if (order == NULL)
        return NULL;
    size_t first = 0, rest = n_failed;
    for (size_t i = 0; i < n; i++)
        order[failed[i] ? first++ : rest++] = i;
    return order;
}
