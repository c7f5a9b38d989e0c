/* test_probe_carry.c: the carry-over sum (probe/carry.h) fed HGETALL
 * replies built by hand: which seconds count for which node, and what is
 * ignored. */
#include "carry.h"
#include "status.h"
#include "t.h"

#include <stdint.h>

/* An HGETALL reply of up to 8 pairs, given as "field", "value", ..., NULL. */
struct hash {
    redisReply reply;
    redisReply items[16];
    redisReply *ptrs[16];
};

static redisReply *hash_of(struct hash *h, const char *const *pairs)
{
    memset(h, 0, sizeof *h);
    h->reply.type = REDIS_REPLY_ARRAY;
    h->reply.element = h->ptrs;
    for (size_t i = 0; pairs[i] != NULL && i < 16; i++) {
        h->items[i].type = REDIS_REPLY_STRING;
        h->items[i].str = (char *)(uintptr_t)pairs[i];   /* only read */
        h->items[i].len = strlen(pairs[i]);
        h->ptrs[i] = &h->items[i];
        h->reply.elements++;
    }
    return &h->reply;
}

static void nodes3(struct wsb_node *n)
{
    static const char *const ids[] = { "eu-1", "us-1", "eu-10" };
    static const long long checked[] = { 1000, 1002, 0 };
    for (int i = 0; i < 3; i++) {
        wsb_node_init(&n[i]);
        n[i].id = (char *)(uintptr_t)ids[i];   /* only read */
        n[i].checked_at = checked[i];
    }
}

static void test_first_second(void)
{
    struct wsb_node n[3];
    nodes3(n);
    CHECK_INT(wsb_carry_first_second(n, 2, 1010), 1000);          /* the earliest check */
    CHECK_INT(wsb_carry_first_second(n, 2, 1000 + WSB_STARTS_TTL_S + 5), 1005);   /* no older than the keys */
    CHECK_INT(wsb_carry_first_second(n, 3, 1010), 1010 - WSB_STARTS_TTL_S);       /* never checked */
    CHECK_INT(wsb_carry_first_second(n, 0, 1010), 1010);
}

static void test_sum(void)
{
    struct wsb_node n[3];
    nodes3(n);
    struct hash h[4];
    const char *const s999[] = { "eu-1", "7", NULL };                       /* before every check */
    const char *const s1000[] = { "eu-1", "5", "us-1", "4", "eu-10", "1", NULL };
    const char *const s1001[] = { "us-1", "100", "ghost", "9", "eu-1", "x1", "eu-", "3", NULL };
    const char *const s1002[] = { "eu-1", "2", "us-1", "6", "eu-10", "18446744073709551615", NULL };
    redisReply *hashes[4] = { hash_of(&h[0], s999), hash_of(&h[1], s1000), hash_of(&h[2], s1001),
                              hash_of(&h[3], s1002) };
    long long counts[3] = { -1, -1, -1 };
    char err[WSB_ERRLEN] = "";
    CHECK_INT(wsb_carry_sum(n, 3, 999, hashes, 4, counts, err), WSB_OK);
    CHECK_INT(counts[0], 5 + 2);   /* from its check (1000) on; "x1" is not a count */
    CHECK_INT(counts[1], 6);       /* only 1002 on: 1000 and 1001 are in its measured connections */
    CHECK_INT(counts[2], WSB_CARRY_MAX);   /* never checked: every second; 1 + a huge count, clamped */

    /* an empty second (no key: an empty array) adds nothing */
    struct hash e;
    const char *const none[] = { NULL };
    redisReply *empty[1] = { hash_of(&e, none) };
    CHECK_INT(wsb_carry_sum(n, 3, 1005, empty, 1, counts, err), WSB_OK);
    CHECK(counts[0] == 0 && counts[1] == 0 && counts[2] == 0, "%lld %lld %lld", counts[0], counts[1], counts[2]);

    /* a reply that is not a hash: an error, and nothing carried */
    redisReply bad;
    memset(&bad, 0, sizeof bad);
    bad.type = REDIS_REPLY_INTEGER;
    redisReply *mixed[2] = { hash_of(&h[0], s1002), &bad };
    counts[0] = 42;
    CHECK_INT(wsb_carry_sum(n, 3, 1002, mixed, 2, counts, err), WSB_EREPLY);
    CHECK_INT(counts[0], 0);
    CHECK(strstr(err, "second 1003") != NULL, "err: %s", err);
}

int main(void)
{
    T_RUN(test_first_second);
    T_RUN(test_sum);
    return t_done("test_probe_carry");
}
