/* url.c: splitting and mapping the URLs and addresses of the inventory. */
#include "url.h"
#include "hostport.h"
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

/* Checks the characters of a split host: a name or IPv4 address, or
 * inside brackets an IPv6 address. */
static int host_chars_check(const struct wsb_hostport *hp, char *err)
{
    for (size_t i = 0; i < hp->host_len; i++) {
        char c = hp->host[i];
        if (hp->bracketed && !is_hex(c) && c != ':' && c != '.')
            return wsb_fail(err, WSB_EINVAL, "bad IPv6 address");
        if (!hp->bracketed && !is_alnum(c) && c != '.' && c != '-' && c != '_')
            return wsb_fail(err, WSB_EINVAL, "host may only hold letters, digits, '.', '-' and '_'");
    }
    return WSB_OK;
}

/* Parses an authority host[:port] of len bytes into out (an IPv6 host
 * keeps its brackets there).  port_required makes a missing port an error. */
static int parse_authority(const char *s, size_t len, int port_required, struct wsb_url *out, char *err)
{
    struct wsb_hostport hp;
    if (len == 0)
        return wsb_fail(err, WSB_EINVAL, "has no host");
    if (memchr(s, '@', len) != NULL)
        return wsb_fail(err, WSB_EINVAL, "must not carry user information");
    if (wsb_hostport_split(s, len, &hp, err) != WSB_OK)
        return WSB_EINVAL;
    if (hp.host_len == 0)
        return wsb_fail(err, WSB_EINVAL, "has no host");
    if (host_chars_check(&hp, err) != WSB_OK)
        return WSB_EINVAL;
    if (hp.host_len + (hp.bracketed ? 2 : 0) > WSB_MAX_HOST)
        return wsb_fail(err, WSB_EINVAL, "host is longer than %d bytes", WSB_MAX_HOST);
    if (hp.bracketed)
        snprintf(out->host, sizeof out->host, "[%.*s]", (int)hp.host_len, hp.host);
    else
        snprintf(out->host, sizeof out->host, "%.*s", (int)hp.host_len, hp.host);
    out->port_given = hp.port != 0;
    if (hp.port != 0)
        out->port = (int)hp.port;
    else if (port_required)
        return wsb_fail(err, WSB_EINVAL, "must be host:port");
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
