/* status.c: names of the common/ status codes and the error-text helper. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

const char *wsb_strerror(int status)
{
    switch (status) {
    case WSB_OK: return "ok";
    case WSB_ENOMEM: return "out of memory";
    case WSB_EINVAL: return "invalid input";
    case WSB_ERANGE: return "value out of range";
    case WSB_ETOOBIG: return "input too large";
    case WSB_EREDIS: return "redis error";
    case WSB_EREPLY: return "unexpected redis reply";
    case WSB_EIO: return "i/o error";
    case WSB_EGEOIP: return "geoip database error";
    case WSB_ENOTFOUND: return "not found";
    case WSB_EBUSY: return "busy";
    case WSB_ESYS: return "system error";
    default: return "unknown error";
    }
}

int wsb_fail(char *err, int status, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, WSB_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return status;
}
