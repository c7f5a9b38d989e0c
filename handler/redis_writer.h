/* redis_writer.h: the connection a handler process writes its counts
 * over (the assignment accounting, assign.h, and the metrics, metrics.h):
 * the first address of WSB_REDIS_URL that takes writes.  A handler that
 * reads the state from a local replica ("replica first, then the
 * primary") still counts on the primary: an address that answers READONLY
 * is passed for the next; a sentinel address is led to the primary. */
#ifndef WSB_REDIS_WRITER_H
#define WSB_REDIS_WRITER_H

#include "redis.h"

#include <stddef.h>

/* A writer over cfg (copied, sentinel addresses turned to the primary),
 * first on its first address.  NULL on ENOMEM.  Free with
 * wsb_redis_writer_free (NULL accepted). */
struct wsb_redis_writer;
struct wsb_redis_writer *wsb_redis_writer_new(const struct wsb_redis_config *cfg);
void wsb_redis_writer_free(struct wsb_redis_writer *w);

/* The connection to write on now (connected on demand by wsb_redis_get);
 * owned by w. */
struct wsb_redis *wsb_redis_writer_conn(struct wsb_redis_writer *w);

/* How many addresses there are: how often a write may be tried. */
size_t wsb_redis_writer_addresses(const struct wsb_redis_writer *w);

/* After the current address answered READONLY: writes go to the next
 * address from now on (tried first at every later write).  Returns 1 when
 * it moved, 0 when there is no other address or no memory (nothing
 * changed). */
int wsb_redis_writer_next(struct wsb_redis_writer *w);

#endif
