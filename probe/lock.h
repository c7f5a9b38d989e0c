/* lock.h: the probe's run lock, <prefix>lock (keys.h): one probe writes
 * rounds at a time.  A holder is known by its token ("host:pid:random");
 * the lock expires by itself after its lifetime. */
#ifndef WSB_PROBE_LOCK_H
#define WSB_PROBE_LOCK_H

#include "keys.h"
#include "redis.h"

/* Takes the lock with token for ttl_ms (SET NX PX).  Returns WSB_OK when
 * taken; WSB_EBUSY when another holder has it, or WSB_EREDIS with the
 * reason in err, and then the lock is unaltered. */
int wsb_lock_take(struct wsb_redis *r, const struct wsb_keys *k, const char *token, long ttl_ms, char *err);

/* Extends the lock to ttl_ms if token still holds it.  Returns WSB_OK;
 * WSB_EBUSY when token no longer holds it (lost), or WSB_EREDIS with the
 * reason in err, and then the lock is unaltered. */
int wsb_lock_refresh(struct wsb_redis *r, const struct wsb_keys *k, const char *token, long ttl_ms, char *err);

/* Releases the lock if token holds it (another holder's lock stays).
 * Returns WSB_OK; on error WSB_EREDIS with the reason in err, and the lock
 * then expires by itself. */
int wsb_lock_release(struct wsb_redis *r, const struct wsb_keys *k, const char *token, char *err);

#endif
