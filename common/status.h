/* status.h: the one error convention of common/.
 *
 * Every fallible function in common/ returns an int: WSB_OK (0) on success
 * or one of the negative WSB_E* codes below.  wsb_strerror() names a code.
 * Errors of other libraries (hiredis c->err, MMDB_* codes, curl codes,
 * errno) are kept apart: the function that met them reports them in its
 * own error buffer or out-parameter, never squashed into -1. */
#ifndef WSB_STATUS_H
#define WSB_STATUS_H

#include <stddef.h>

enum wsb_status {
    WSB_OK = 0,
    WSB_ENOMEM = -1,      /* an allocation failed */
    WSB_EINVAL = -2,      /* input is malformed (the error text says where) */
    WSB_ERANGE = -3,      /* a value is out of its allowed range */
    WSB_ETOOBIG = -4,     /* input is larger than its limit */
    WSB_EREDIS = -5,      /* Redis could not be reached or the command failed */
    WSB_EREPLY = -6,      /* Redis answered something of the wrong shape */
    WSB_EIO = -7,         /* a file could not be read (errno kept in the text) */
    WSB_EGEOIP = -8,      /* the GeoIP database failed (MMDB code kept) */
    WSB_ENOTFOUND = -9,   /* the thing looked for is not there */
    WSB_EBUSY = -10,      /* someone else holds the lock */
    WSB_ESYS = -11        /* a system call failed (errno kept in the text) */
};

/* Size of the error buffers that common/ functions fill with a specific
 * one-line reason ("WSB_MAX_LOAD: must be a number in 0..1"). */
#define WSB_ERRLEN 256

/* Returns a static string naming the status; never NULL. */
const char *wsb_strerror(int status);

/* Formats into err (of size WSB_ERRLEN) when err is not NULL; returns
 * status, so that "return wsb_fail(err, WSB_EINVAL, ...)" reads as one step. */
int wsb_fail(char *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
