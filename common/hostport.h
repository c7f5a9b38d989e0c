/* hostport.h: splitting "host", "host:port", "[v6]" and "[v6]:port", the
 * one rule behind --listen, Redis URLs and the inventory's addresses. */
#ifndef WSB_HOSTPORT_H
#define WSB_HOSTPORT_H

#include <stddef.h>

struct wsb_hostport {
    const char *host;   /* points into the parsed text; without the brackets */
    size_t host_len;    /* 0 when the text starts with ':' (":8080") */
    int bracketed;      /* the host was written [v6] */
    long port;          /* 1..65535, or 0 when none was given */
};

/* Splits s (len bytes).  An unbracketed host with several colons is split
 * at the last one, and must then be an IPv6 address ("::1:8080" is ::1
 * port 8080; "host:1:2" is refused); the port is 1..65535 in at most 5
 * digits.  Returns WSB_OK, or WSB_EINVAL with the reason in err
 * ("IPv6 address lacks its closing ']'", "unexpected text after the IPv6
 * address", "a host with ':' must be an IPv6 address, in brackets ...",
 * "port must be a number 1..65535") and *out unspecified.
 * The host's characters are the caller's to check. */
int wsb_hostport_split(const char *s, size_t len, struct wsb_hostport *out, char *err);

/* 1 when s (len bytes, no brackets) is an IPv6 address, else 0. */
int wsb_is_ipv6(const char *s, size_t len);

#endif
