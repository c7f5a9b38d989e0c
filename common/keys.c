/* keys.c: the Redis key names of the state, built from the key prefix. */
#include "keys.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

int wsb_keys_init(struct wsb_keys *k, const char *prefix, char *err)
{
    size_t len = strlen(prefix);
    if (len > WSB_MAX_PREFIX)
        return wsb_fail(err, WSB_EINVAL, "longer than %d bytes", WSB_MAX_PREFIX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)prefix[i] <= 0x20 || (unsigned char)prefix[i] >= 0x7f)
            return wsb_fail(err, WSB_EINVAL, "may only hold printable ASCII without blanks");
    snprintf(k->nodes, sizeof k->nodes, "%snodes", prefix);
    snprintf(k->round, sizeof k->round, "%sround", prefix);
    snprintf(k->admin, sizeof k->admin, "%sadmin", prefix);
    snprintf(k->lock, sizeof k->lock, "%slock", prefix);
    snprintf(k->events, sizeof k->events, "%sevents", prefix);
    snprintf(k->assigned, sizeof k->assigned, "%sassigned:", prefix);
    snprintf(k->starts, sizeof k->starts, "%sstarts:", prefix);
    snprintf(k->metrics_handlers, sizeof k->metrics_handlers, "%smetrics:handlers", prefix);
    snprintf(k->metrics_nodes, sizeof k->metrics_nodes, "%smetrics:nodes", prefix);
    snprintf(k->metrics_probe, sizeof k->metrics_probe, "%smetrics:probe", prefix);
    return WSB_OK;
}

int wsb_round_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > WSB_MAX_ROUND_ID)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    return 1;
}

void wsb_keys_assigned(const struct wsb_keys *k, const char *round_id, char *out)
{
    snprintf(out, WSB_MAX_KEY, "%s%.20s", k->assigned, round_id);
}

void wsb_keys_starts(const struct wsb_keys *k, long long second, char *out)
{
    snprintf(out, WSB_MAX_KEY, "%s%lld", k->starts, second);
}
