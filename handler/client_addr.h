/* client_addr.h: which address a request comes from (REMOTE_ADDR, or
 * X-Forwarded-For behind trusted proxies). */
#ifndef WSB_CLIENT_ADDR_H
#define WSB_CLIENT_ADDR_H

#include "netaddr.h"

#define WSB_MAX_XFF 4096            /* bytes of X-Forwarded-For considered */
#define WSB_MAX_XFF_HOPS 32         /* entries of X-Forwarded-For considered */

/* The client address: REMOTE_ADDR, or when REMOTE_ADDR is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not itself trusted (or the
 * left-most when all are).  Returns 1 with *out set, 0 when no usable
 * address is known (the client then has no location). */
int wsb_client_addr(const char *remote_addr, const char *xff, const struct wsb_cidr_list *trusted,
                    struct wsb_ip *out);

#endif
