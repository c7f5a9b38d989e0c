/* config.c: typed, range-checked readers for WSB_* environment variables
 * and command-line numbers. */
#include "config.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wsb_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int wsb_parse_long(const char *s, long lo, long hi, long *out)
{
    if (s == NULL)
        return WSB_EINVAL;
    const char *d = s[0] == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9')
        return WSB_EINVAL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return WSB_EINVAL;
    *out = v;
    return WSB_OK;
}

int wsb_env_double(const char *name, double lo, double hi, double *out, char *err)
{
    const char *s = wsb_env(name);
    if (s == NULL)
        return WSB_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || end == s || !isfinite(v) || v < lo || v > hi)
        return wsb_fail(err, WSB_EINVAL, "%s: '%.40s' is not a number in %g..%g", name, s, lo, hi);
    *out = v;
    return WSB_OK;
}

int wsb_env_long(const char *name, long lo, long hi, long *out, char *err)
{
    const char *s = wsb_env(name);
    if (s == NULL)
        return WSB_OK;
    if (wsb_parse_long(s, lo, hi, out) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "%s: '%.40s' is not a whole number in %ld..%ld", name, s, lo, hi);
    return WSB_OK;
}

int wsb_env_bool(const char *name, int *out, char *err)
{
    const char *s = wsb_env(name);
    if (s == NULL)
        return WSB_OK;
    if (strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "on") == 0)
        *out = 1;
    else if (strcmp(s, "0") == 0 || strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "off") == 0)
        *out = 0;
    else
        return wsb_fail(err, WSB_EINVAL, "%s: '%.40s' is not one of 1, 0, yes, no, true, false, on, off",
                        name, s);
    return WSB_OK;
}

int wsb_arg_long(const char *prog, const char *name, const char *v, long lo, long hi, long *out)
{
    if (v == NULL || wsb_parse_long(v, lo, hi, out) != WSB_OK) {
        fprintf(stderr, "%s: %s: '%s' is not a whole number in %ld..%ld\n", prog, name, v ? v : "", lo, hi);
        return -1;
    }
    return 0;
}
