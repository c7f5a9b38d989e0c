/* redis.h: a Redis connection that tries several addresses (redis_url.h)
 * in order, with connect and command timeouts, and reconnects after any
 * failure.  Passwords never appear in error texts or logs: addresses are
 * always shown by wsb_redis_addr_format, which leaves them out.
 *
 * A redis-sentinel:// address is resolved at each connect: its sentinels
 * are asked in order (without AUTH, with the same timeouts) for the
 * primary (SENTINEL get-master-addr-by-name) or a healthy replica
 * (SENTINEL replicas: not s_down, o_down or disconnected, master link ok;
 * else the primary, logged once, and for 10 s: then the sentinels are
 * asked again); the answer is connected to with the
 * URL's user, password and db, and checked with ROLE (a primary must say
 * "master": a sentinel may still name a demoted one), else the next
 * sentinel is asked.  A failover is followed by reconnecting: after an
 * I/O error, or a reply that says the node is no longer what it was
 * (READONLY, MASTERDOWN, LOADING: wsb_redis_note_reply). */
#ifndef WSB_REDIS_H
#define WSB_REDIS_H

#include "redis_url.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

/* A connection, owned by the caller: create with wsb_redis_new (NULL on
 * ENOMEM; cfg is copied), free with wsb_redis_free (NULL accepted). */
struct wsb_redis;

struct wsb_redis *wsb_redis_new(const struct wsb_redis_config *cfg);
void wsb_redis_free(struct wsb_redis *r);

/* Returns a connected context, connecting (address after address) when
 * there is none or the current one was marked stale (wsb_redis_note_reply).
 * On failure returns NULL with the reason of every address tried in err
 * (for a sentinel address, of each sentinel, bounded); the next call
 * tries again. */
redisContext *wsb_redis_get(struct wsb_redis *r, char *err);

/* Forgets the current connection (after an I/O error or a timeout), so
 * that the next wsb_redis_get reconnects. */
void wsb_redis_drop(struct wsb_redis *r);

/* 1 when a connection is open and not marked stale (it may still turn
 * out to be dead), else 0. */
int wsb_redis_connected(const struct wsb_redis *r);

/* The address of the current connection, formatted; "" when none.  For
 * a sentinel address, the node it led to and how:
 * "127.0.0.1:6380/0 (sentinel mymaster primary)". */
const char *wsb_redis_current(const struct wsb_redis *r);

/* The number of the current connection: 1 for the first one r opened, one
 * more for each later one, 0 when none is open (or it is marked stale).  What a connection holds
 * in Redis (a WATCH) belongs to its number: after a reconnect or a
 * failover the number differs. */
unsigned long long wsb_redis_generation(const struct wsb_redis *r);

/* Runs one command on a connected context (format as redisCommand).
 * Returns the reply, which the caller frees with freeReplyObject, or NULL
 * with err filled and the connection dropped; a Redis error reply is
 * returned as NULL too, with its text in err (and noted, as
 * wsb_redis_note_reply does). */
redisReply *wsb_redis_command(struct wsb_redis *r, char *err, const char *fmt, ...);

/* Collects the replies of n commands queued on c (r's current context)
 * into rep[0..n); they are the caller's, to free with freeReplyObject.
 * Each is noted (wsb_redis_note_reply): c stays valid until the next
 * wsb_redis_get or wsb_redis_drop even when one marks it stale.
 * Returns WSB_OK; on error WSB_EREDIS is returned with the reason in err,
 * the connection is dropped (it is out of step), the replies read so far
 * stay in rep for the caller to free, and *peer_closed (may be NULL; set
 * on error only) says whether the peer closed or reset the connection
 * before the first reply, as a proxy does on a command it does not know. */
int wsb_redis_get_replies(struct wsb_redis *r, redisContext *c, redisReply **rep, int n, int *peer_closed,
                          char *err);

/* Looks at one reply read on r's current context (by a caller that reads
 * replies itself with redisGetReply, as a MULTI/EXEC writer does; NULL
 * accepted): an error reply READONLY (a demoted primary), MASTERDOWN (a
 * replica that lost its primary) or LOADING, at the top or inside an
 * EXEC's answer, marks the connection stale (as does the end of the 10 s
 * that a primary is read for want of a healthy replica): wsb_redis_connected and
 * wsb_redis_generation say none is open, the context stays valid for the
 * replies still to read, and the next wsb_redis_get drops it and connects
 * afresh (asking the sentinels again).  Returns 1 when it marked the
 * connection stale, else 0.  Cannot fail. */
int wsb_redis_note_reply(struct wsb_redis *r, const redisReply *reply);

#endif
