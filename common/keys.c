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
    return WSB_OK;
}
