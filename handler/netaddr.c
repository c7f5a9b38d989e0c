/* netaddr.c: IPv4/IPv6 parsing, CIDR matching and the "has no location" test. */
#include "netaddr.h"
#include "status.h"
#include "strlist.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int wsb_ip_parse(const char *s, size_t len, struct wsb_ip *out)
{
    char buf[64];
    wsb_trim(&s, &len);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return WSB_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';

    struct wsb_ip ip;
    memset(&ip, 0, sizeof ip);
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        ip.b[10] = 0xff;
        ip.b[11] = 0xff;
        memcpy(ip.b + 12, &a4, 4);
        ip.is_v4 = 1;
        *out = ip;
        return WSB_OK;
    }
    /* A zone index ("fe80::1%eth0") names an interface, not an address. */
    if (strchr(buf, '%') != NULL)
        return WSB_EINVAL;
    if (inet_pton(AF_INET6, buf, ip.b) != 1)
        return WSB_EINVAL;
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    ip.is_v4 = memcmp(ip.b, mapped, 12) == 0;
    *out = ip;
    return WSB_OK;
}

void wsb_ip_format(const struct wsb_ip *ip, char *buf, size_t buflen)
{
    if (ip->is_v4)
        inet_ntop(AF_INET, ip->b + 12, buf, (socklen_t)buflen);
    else
        inet_ntop(AF_INET6, ip->b, buf, (socklen_t)buflen);
}

static int prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

int wsb_cidr_parse(const char *s, size_t len, struct wsb_cidr *out, char *err)
{
    wsb_trim(&s, &len);
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash ? (size_t)(slash - s) : len;
    struct wsb_ip ip;
    if (wsb_ip_parse(s, addr_len, &ip) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "'%.*s' is not an IPv4 or IPv6 address",
                        (int)(addr_len > 64 ? 64 : addr_len), s);
    /* The prefix counts bits of the address as written: 32 of a dotted
     * IPv4 address, 128 of an IPv6 one.  An IPv4-mapped address takes
     * either: /0../32 count its IPv4 bits (as they always did: ::ffff:
     * 10.0.0.0/8 is 10.0.0.0/8, never ::/8, which would hold every IPv4
     * address), /96../128 its IPv6 bits; anything between is refused. */
    int written_v4 = memchr(s, ':', addr_len) == NULL;
    unsigned max = written_v4 ? 32 : 128, prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3)
            return wsb_fail(err, WSB_EINVAL, "bad prefix length in '%.*s'", (int)(len > 80 ? 80 : len), s);
        prefix = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return wsb_fail(err, WSB_EINVAL, "bad prefix length in '%.*s'", (int)(len > 80 ? 80 : len), s);
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max)
            return wsb_fail(err, WSB_EINVAL, "prefix /%u is longer than %u in '%.*s'", prefix, max,
                            (int)(len > 80 ? 80 : len), s);
    }
    if (!written_v4 && ip.is_v4 && prefix > 32 && prefix < 96)
        return wsb_fail(err, WSB_EINVAL,
                        "prefix /%u of the IPv4-mapped '%.*s' counts neither IPv4 bits (0..32) nor IPv6 bits (96..128)",
                        prefix, (int)(len > 80 ? 80 : len), s);
    out->net = ip;
    out->prefix = written_v4 || (ip.is_v4 && prefix <= 32) ? prefix + 96 : prefix;
    return WSB_OK;
}

/* Appends c to list (capacity *cap).  WSB_OK or WSB_ENOMEM. */
static int cidr_list_add(struct wsb_cidr_list *list, size_t *cap, const struct wsb_cidr *c)
{
    if (list->n == *cap) {
        size_t grown = *cap ? *cap * 2 : 4;
        struct wsb_cidr *v = realloc(list->v, grown * sizeof *v);
        if (v == NULL)
            return WSB_ENOMEM;
        list->v = v;
        *cap = grown;
    }
    list->v[list->n++] = *c;
    return WSB_OK;
}

int wsb_cidr_list_parse(const char *s, struct wsb_cidr_list *out, char *err)
{
    out->n = 0;
    out->v = NULL;
    size_t cap = 0, entry = 0, len;
    const char *item;
    int status = WSB_OK;
    struct wsb_list_iter it;
    wsb_list_begin(&it, s, ',');
    while (wsb_list_next(&it, &item, &len)) {
        entry++;
        if (len == 0 && entry > 1 && wsb_list_done(&it))
            break;   /* "10.0.0.0/8," : a trailing comma is accepted */
        if (len == 0) {
            status = wsb_fail(err, WSB_EINVAL, "empty entry in list");
            goto cleanup;
        }
        struct wsb_cidr c;
        char why[WSB_ERRLEN];
        if (wsb_cidr_parse(item, len, &c, why) != WSB_OK) {
            status = wsb_fail(err, WSB_EINVAL, "entry %zu: %s", entry, why);
            goto cleanup;
        }
        if (cidr_list_add(out, &cap, &c) != WSB_OK) {
            status = wsb_fail(err, WSB_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    return WSB_OK;
cleanup:
    wsb_cidr_list_free(out);
    return status;
}

void wsb_cidr_list_free(struct wsb_cidr_list *list)
{
    if (list == NULL)
        return;
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

int wsb_cidr_list_contains(const struct wsb_cidr_list *list, const struct wsb_ip *ip)
{
    for (size_t i = 0; i < list->n; i++)
        if (prefix_match(ip->b, list->v[i].net.b, list->v[i].prefix))
            return 1;
    return 0;
}

int wsb_ip_is_local(const struct wsb_ip *ip)
{
    /* Networks with no place on a map, as (first bytes, prefix) on the
     * IPv4-mapped form; a table of bytes so the request path parses nothing. */
    static const struct {
        uint8_t b[16];
        unsigned prefix;
    } local[] = {
#define V4(a, b, c, d, n) { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }, 96 + (n) }
        V4(0, 0, 0, 0, 8),     V4(10, 0, 0, 0, 8),     V4(100, 64, 0, 0, 10),
        V4(127, 0, 0, 0, 8),   V4(169, 254, 0, 0, 16), V4(172, 16, 0, 0, 12),
        V4(192, 0, 0, 0, 24),  V4(192, 0, 2, 0, 24),   V4(192, 168, 0, 0, 16),
        V4(198, 18, 0, 0, 15), V4(198, 51, 100, 0, 24), V4(203, 0, 113, 0, 24),
        V4(224, 0, 0, 0, 3),
#undef V4
        { { 0 }, 127 },                                  /* :: and ::1 */
        { { 0xfc }, 7 },                                 /* unique local */
        { { 0xfe, 0x80 }, 10 },                          /* link local */
        { { 0xff }, 8 },                                 /* multicast */
        { { 0x20, 0x01, 0x0d, 0xb8 }, 32 },              /* documentation */
    };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (prefix_match(ip->b, local[i].b, local[i].prefix))
            return 1;
    return 0;
}
