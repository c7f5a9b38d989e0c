/* url.h: the little URL handling the probe needs, as pure functions over
 * strings: splitting "scheme://host[:port]/rest" for validation and for the
 * tcp check's default address, mapping ws(s):// to http(s)://, and parsing
 * a "host:port" check address.  No I/O, no allocation except where said. */
#ifndef WSB_PROBE_URL_H
#define WSB_PROBE_URL_H

#include <stddef.h>

#define WSB_MAX_URL 2048
#define WSB_MAX_HOST 255

struct wsb_url {
    char scheme[8];               /* "ws", "wss", "http" or "https" */
    char host[WSB_MAX_HOST + 3];  /* name, IPv4, or "[v6]" with its brackets */
    int port;                     /* given, or the scheme's default */
    int port_given;
};

/* Splits url: scheme ws, wss, http or https (lower case), a host name,
 * IPv4 address or [IPv6] literal, an optional :port 1..65535, then nothing
 * or a path/query starting with '/', '?' or '#'.  At most WSB_MAX_URL bytes
 * of printable ASCII, no user information.  Returns WSB_OK, or WSB_EINVAL
 * with the reason in err and *out unspecified. */
int wsb_url_split(const char *url, struct wsb_url *out, char *err);

/* Returns a malloc'ed copy of url with ws:// replaced by http:// and wss://
 * by https:// (other URLs copied as they are); NULL on ENOMEM. */
char *wsb_url_to_http(const char *url);

/* Parses a tcp check address "host:port" or "[v6]:port" (port required).
 * Returns WSB_OK with *out filled (scheme ""), or WSB_EINVAL with err. */
int wsb_address_parse(const char *addr, struct wsb_url *out, char *err);

#endif
