/* netaddr.h: IP addresses and CIDR lists, IPv4 and IPv6 alike.
 *
 * An IPv4 address is held as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so
 * that "10.0.0.0/8" and "::ffff:10.0.0.0/104" are the same network and one
 * comparison serves both families. */
#ifndef WSB_NETADDR_H
#define WSB_NETADDR_H

#include <stddef.h>
#include <stdint.h>

struct wsb_ip {
    uint8_t b[16];
    int is_v4;        /* 1 when the address is IPv4 (or IPv4-mapped IPv6) */
};

struct wsb_cidr {
    struct wsb_ip net;
    unsigned prefix;  /* 0..128, counted on the mapped form */
};

/* A list of networks; owned by whoever parsed it, freed with
 * wsb_cidr_list_free (NULL is accepted). */
struct wsb_cidr_list {
    size_t n;
    struct wsb_cidr *v;
};

/* Parses an address of len bytes (not NUL-terminated) such as "81.2.69.142",
 * "2001:db8::1" or "[2001:db8::1]"; surrounding blanks are ignored.
 * Returns WSB_OK, or WSB_EINVAL and leaves *out alone. */
int wsb_ip_parse(const char *s, size_t len, struct wsb_ip *out);

/* Formats the address ("81.2.69.142", "2001:db8::1") into buf (>= 46
 * bytes).  Cannot fail. */
void wsb_ip_format(const struct wsb_ip *ip, char *buf, size_t buflen);

/* Parses "a.b.c.d/n" (n <= 32), "x::/n" or "::ffff:a.b.c.d/n" (n <= 128:
 * the prefix counts bits of the address as written, so that
 * "::ffff:10.0.0.0/104" is "10.0.0.0/8"), or a bare address (a host
 * route).  Returns WSB_OK, or WSB_EINVAL with a reason in err and *out
 * unaltered. */
int wsb_cidr_parse(const char *s, size_t len, struct wsb_cidr *out, char *err);

/* Parses a comma-separated list of CIDRs ("" or NULL gives an empty list;
 * blanks around entries are ignored; a trailing comma is accepted, an
 * empty entry anywhere else is an error).  The list is the caller's, freed
 * with wsb_cidr_list_free.
 * On error returns WSB_EINVAL or WSB_ENOMEM with a reason naming the entry
 * in err, and *out is left empty. */
int wsb_cidr_list_parse(const char *s, struct wsb_cidr_list *out, char *err);

/* Frees the networks and leaves the list empty; NULL is accepted. */
void wsb_cidr_list_free(struct wsb_cidr_list *list);

/* Returns 1 when ip lies in one of the networks, else 0.  Cannot fail. */
int wsb_cidr_list_contains(const struct wsb_cidr_list *list, const struct wsb_ip *ip);

/* Returns 1 for addresses that have no geographic location: private,
 * loopback, link-local, unique-local, unspecified, multicast, CGNAT,
 * documentation ranges. */
int wsb_ip_is_local(const struct wsb_ip *ip);

#endif
