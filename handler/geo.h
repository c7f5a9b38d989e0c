/* geo.h: client location from a GeoIP2/GeoLite2 City or Country database
 * (libmaxminddb), opened once per process and reopened when the file on
 * disk is replaced.
 *
 * A missing, truncated or corrupt database never fails a request: lookups
 * then simply find no location, and the reason is logged once per change.
 * A database truncated in place while mapped (which would raise SIGBUS),
 * during a lookup or while MMDB_open reads it, is caught, closed and
 * reported instead of killing the process.
 *
 * Ownership: wsb_geo_new() returns an object freed with wsb_geo_free()
 * (NULL accepted).  Lookups may run from several threads at once. */
#ifndef WSB_GEO_H
#define WSB_GEO_H

#include "netaddr.h"
#include "select.h"

struct wsb_geo;

/* Creates the database holder for path and tries to open it.  Returns NULL
 * only on ENOMEM.  Whether the open worked is told by wsb_geo_status.
 * Installs a process-wide SIGBUS handler the first time (it chains to the
 * previous one for faults that are not a database's). */
struct wsb_geo *wsb_geo_new(const char *path, long check_interval_ms);

/* Closes the database and frees g; NULL is accepted. */
void wsb_geo_free(struct wsb_geo *g);

/* WSB_OK when a database is open, else the status of the last attempt
 * with its reason in err (may be NULL). */
int wsb_geo_status(struct wsb_geo *g, char *err);

/* Looks at the file at most once per check interval (now_ms is a
 * monotonic clock) and reopens it when it changed.  Returns 1 when the
 * database was (re)opened or closed by this call, else 0; the reason of a
 * failed open is logged by the caller through wsb_geo_status. */
int wsb_geo_maybe_reload(struct wsb_geo *g, long long now_ms);

/* Fills *loc with what the database knows of ip (coordinates, country,
 * continent).  Returns 1 when anything was found, 0 when the address is
 * local, unknown, or no database is open. */
int wsb_geo_lookup(struct wsb_geo *g, const struct wsb_ip *ip, struct wsb_client_loc *loc);

#endif
