/* lock.c: the probe's run lock in Redis (SET NX PX, extended and released
 * only by the token that holds it). */
#include "lock.h"
#include "status.h"

int wsb_lock_take(struct wsb_redis *r, const struct wsb_keys *k, const char *token, long ttl_ms, char *err)
{
    redisReply *reply = wsb_redis_command(r, err, "SET %s %s NX PX %ld", k->lock, token, ttl_ms);
    if (reply == NULL)
        return WSB_EREDIS;
    int taken = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    return taken ? WSB_OK : WSB_EBUSY;
}

static const char *const REFRESH_LUA =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
static const char *const UNLOCK_LUA =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";

int wsb_lock_refresh(struct wsb_redis *r, const struct wsb_keys *k, const char *token, long ttl_ms, char *err)
{
    redisReply *reply = wsb_redis_command(r, err, "EVAL %s 1 %s %s %ld", REFRESH_LUA, k->lock, token, ttl_ms);
    if (reply == NULL)
        return WSB_EREDIS;
    int held = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return held ? WSB_OK : WSB_EBUSY;
}

int wsb_lock_release(struct wsb_redis *r, const struct wsb_keys *k, const char *token, char *err)
{
    redisReply *reply = wsb_redis_command(r, err, "EVAL %s 1 %s %s", UNLOCK_LUA, k->lock, token);
    if (reply == NULL)
        return WSB_EREDIS;
    freeReplyObject(reply);
    return WSB_OK;
}
