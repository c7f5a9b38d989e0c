/* client_addr.c: the client's address from REMOTE_ADDR and, behind trusted
 * proxies, X-Forwarded-For. */
#include "client_addr.h"
#include "status.h"
#include "strlist.h"

#include <string.h>

/* Parses one X-Forwarded-For entry: an address, "a.b.c.d:port" or
 * "[v6]:port".  Returns WSB_OK or WSB_EINVAL. */
static int parse_xff_entry(const char *s, size_t len, struct wsb_ip *out)
{
    wsb_trim(&s, &len);
    if (len == 0)
        return WSB_EINVAL;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL)
            return WSB_EINVAL;
        return wsb_ip_parse(s + 1, (size_t)(rb - s - 1), out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL)
        len = (size_t)(colon - s);   /* IPv4 with a port */
    return wsb_ip_parse(s, len, out);
}

int wsb_client_addr(const char *remote_addr, const char *xff, const struct wsb_cidr_list *trusted,
                    struct wsb_ip *out)
{
    struct wsb_ip ip;
    if (remote_addr == NULL || wsb_ip_parse(remote_addr, strlen(remote_addr), &ip) != WSB_OK)
        return 0;
    if (xff == NULL || trusted == NULL || trusted->n == 0 || !wsb_cidr_list_contains(trusted, &ip)) {
        *out = ip;
        return 1;
    }
    size_t len = strlen(xff);
    if (len > WSB_MAX_XFF)
        return 0;   /* a header this long is not a proxy chain we believe */
    /* Walk right to left: each hop appended the address it saw. */
    size_t end = len;
    for (int hop = 0; hop < WSB_MAX_XFF_HOPS; hop++) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        struct wsb_ip e;
        if (parse_xff_entry(xff + start, end - start, &e) != WSB_OK)
            return 0;   /* garbage where the client should be: no address */
        ip = e;
        if (!wsb_cidr_list_contains(trusted, &e) || start == 0) {
            *out = ip;
            return 1;
        }
        end = start - 1;
    }
    return 0;
}

