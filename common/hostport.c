/* hostport.c: host[:port] splitting with IPv6 brackets. */
#include "hostport.h"
#include "status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static int parse_port(const char *p, size_t len, long *out, char *err)
{
    long port = 0;
    if (len == 0 || len > 5)
        return wsb_fail(err, WSB_EINVAL, "port must be a number 1..65535");
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return wsb_fail(err, WSB_EINVAL, "port must be a number 1..65535");
        port = port * 10 + (p[i] - '0');
    }
    if (port < 1 || port > 65535)
        return wsb_fail(err, WSB_EINVAL, "port must be a number 1..65535");
    *out = port;
    return WSB_OK;
}

int wsb_is_ipv6(const char *s, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (len >= sizeof text)
        return 0;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, &a) == 1;
}

int wsb_hostport_split(const char *s, size_t len, struct wsb_hostport *out, char *err)
{
    memset(out, 0, sizeof *out);
    const char *port = NULL;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return wsb_fail(err, WSB_EINVAL, "IPv6 address lacks its closing ']'");
        out->host = s + 1;
        out->host_len = (size_t)(close - s) - 1;
        out->bracketed = 1;
        size_t rest = len - (size_t)(close - s) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return wsb_fail(err, WSB_EINVAL, "unexpected text after the IPv6 address");
            port = close + 2;
        }
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':')
                colon = s + i;
        out->host = s;
        out->host_len = colon != NULL ? (size_t)(colon - s) : len;
        if (colon != NULL)
            port = colon + 1;
        if (memchr(s, ':', out->host_len) != NULL && !wsb_is_ipv6(s, out->host_len))
            return wsb_fail(err, WSB_EINVAL, "a host with ':' must be an IPv6 address, in brackets: [::1]:port");
    }
    if (port != NULL)
        return parse_port(port, len - (size_t)(port - s), &out->port, err);
    return WSB_OK;
}
