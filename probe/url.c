/* url.c: splitting and mapping the URLs and addresses of the inventory. */
#include "url.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Parses an authority host[:port] of len bytes into out.  port_required
 * makes a missing port an error. */
static int parse_authority(const char *s, size_t len, int port_required, struct wsb_url *out, char *err)
{
    size_t hlen;
    if (len == 0)
        return wsb_fail(err, WSB_EINVAL, "has no host");
    if (memchr(s, '@', len) != NULL)
        return wsb_fail(err, WSB_EINVAL, "must not carry user information");
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return wsb_fail(err, WSB_EINVAL, "IPv6 address lacks its closing ']'");
        hlen = (size_t)(close - s) + 1;
        if (hlen == 2)
            return wsb_fail(err, WSB_EINVAL, "has no host");
        for (size_t i = 1; i + 1 < hlen; i++)
            if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
                return wsb_fail(err, WSB_EINVAL, "bad IPv6 address");
        if (hlen < len && s[hlen] != ':')
            return wsb_fail(err, WSB_EINVAL, "unexpected text after the IPv6 address");
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (hlen == 0)
            return wsb_fail(err, WSB_EINVAL, "has no host");
        for (size_t i = 0; i < hlen; i++)
            if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
                return wsb_fail(err, WSB_EINVAL, "host may only hold letters, digits, '.', '-' and '_'");
    }
    if (hlen > WSB_MAX_HOST)
        return wsb_fail(err, WSB_EINVAL, "host is longer than %d bytes", WSB_MAX_HOST);
    memcpy(out->host, s, hlen);
    out->host[hlen] = '\0';
    out->port_given = 0;
    if (hlen < len) {             /* s[hlen] == ':' */
        const char *p = s + hlen + 1;
        size_t plen = len - hlen - 1;
        long port = 0;
        if (plen == 0 || plen > 5)
            return wsb_fail(err, WSB_EINVAL, "port must be a number 1..65535");
        for (size_t i = 0; i < plen; i++) {
            if (p[i] < '0' || p[i] > '9')
                return wsb_fail(err, WSB_EINVAL, "port must be a number 1..65535");
            port = port * 10 + (p[i] - '0');
        }
        if (port < 1 || port > 65535)
            return wsb_fail(err, WSB_EINVAL, "port must be a number 1..65535");
        out->port = (int)port;
        out->port_given = 1;
    } else if (port_required) {
        return wsb_fail(err, WSB_EINVAL, "must be host:port");
    }
    return WSB_OK;
}

int wsb_url_split(const char *url, struct wsb_url *out, char *err)
{
    static const struct {
        const char *prefix;
        int port;
    } schemes[] = { { "wss://", 443 }, { "ws://", 80 }, { "https://", 443 }, { "http://", 80 } };
    size_t len = strlen(url);
    memset(out, 0, sizeof *out);
    if (len > WSB_MAX_URL)
        return wsb_fail(err, WSB_EINVAL, "longer than %d bytes", WSB_MAX_URL);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return wsb_fail(err, WSB_EINVAL, "byte %zu is not a printable ASCII character", i);
    size_t skip = 0;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t plen = strlen(schemes[i].prefix);
        if (strncmp(url, schemes[i].prefix, plen) == 0) {
            skip = plen;
            memcpy(out->scheme, schemes[i].prefix, plen - 3);
            out->scheme[plen - 3] = '\0';
            out->port = schemes[i].port;
            break;
        }
    }
    if (skip == 0)
        return wsb_fail(err, WSB_EINVAL, "must start with ws://, wss://, http:// or https://");
    const char *auth = url + skip;
    return parse_authority(auth, strcspn(auth, "/?#"), 0, out, err);
}

char *wsb_url_to_http(const char *url)
{
    const char *rest = url, *scheme = "";
    if (strncmp(url, "wss://", 6) == 0) {
        scheme = "https://";
        rest = url + 6;
    } else if (strncmp(url, "ws://", 5) == 0) {
        scheme = "http://";
        rest = url + 5;
    }
    size_t len = strlen(scheme) + strlen(rest) + 1;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s%s", scheme, rest);
    return out;
}

int wsb_address_parse(const char *addr, struct wsb_url *out, char *err)
{
    size_t len = strlen(addr);
    memset(out, 0, sizeof *out);
    if (len > WSB_MAX_HOST + 8)
        return wsb_fail(err, WSB_EINVAL, "longer than %d bytes", WSB_MAX_HOST + 8);
    if (strcspn(addr, "/?#") != len)
        return wsb_fail(err, WSB_EINVAL, "must be host:port, not a URL");
    return parse_authority(addr, len, 1, out, err);
}
