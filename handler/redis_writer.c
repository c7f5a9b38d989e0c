/* redis_writer.c: the first address that takes writes (redis_writer.h). */
#include "redis_writer.h"

#include <stdlib.h>

struct wsb_redis_writer {
    struct wsb_redis_config cfg;   /* as given, with sentinel addresses led to the primary */
    size_t first;                  /* the address writes go to first: past those that said READONLY */
    struct wsb_redis *redis;       /* over cfg from first on, then the ones before */
};

/* cfg with its addresses from first on, then the ones before. */
static struct wsb_redis *connect_from(const struct wsb_redis_config *cfg, size_t first)
{
    struct wsb_redis_config rot = *cfg;
    for (size_t i = 0; i < cfg->n; i++)
        rot.addrs[i] = cfg->addrs[(first + i) % cfg->n];
    return wsb_redis_new(&rot);
}

struct wsb_redis_writer *wsb_redis_writer_new(const struct wsb_redis_config *cfg)
{
    struct wsb_redis_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    wsb_redis_config_for_writes(cfg, &w->cfg);
    if ((w->redis = connect_from(&w->cfg, 0)) == NULL) {
        free(w);
        return NULL;
    }
    return w;
}

void wsb_redis_writer_free(struct wsb_redis_writer *w)
{
    if (w == NULL)
        return;
    wsb_redis_free(w->redis);
    free(w);
}

struct wsb_redis *wsb_redis_writer_conn(struct wsb_redis_writer *w)
{
    return w->redis;
}

size_t wsb_redis_writer_addresses(const struct wsb_redis_writer *w)
{
    return w->cfg.n;
}

int wsb_redis_writer_next(struct wsb_redis_writer *w)
{
    if (w->cfg.n < 2)
        return 0;
    struct wsb_redis *next = connect_from(&w->cfg, (w->first + 1) % w->cfg.n);
    if (next == NULL)
        return 0;
    wsb_redis_free(w->redis);
    w->redis = next;
    w->first = (w->first + 1) % w->cfg.n;
    return 1;
}
