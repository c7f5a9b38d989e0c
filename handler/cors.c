/* cors.c: WSB_CORS_ORIGINS and the origin a request is allowed. */
#define _GNU_SOURCE
#include "cors.h"
#include "status.h"
#include "strlist.h"

#include <stdlib.h>
#include <string.h>

void wsb_cors_free(struct wsb_cors *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->origins[i]);
    free(c->origins);
    memset(c, 0, sizeof *c);
}

/* An origin is scheme "://" host [":" port], nothing more. */
static int origin_ok(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (i > 0 && ((s[i] >= '0' && s[i] <= '9') ||
                                                                   s[i] == '+' || s[i] == '-' || s[i] == '.'))))
        i++;
    if (i == 0 || i + 3 >= len || memcmp(s + i, "://", 3) != 0)
        return 0;
    for (i += 3; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

int wsb_cors_parse(const char *s, struct wsb_cors *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || *s == '\0')
        return WSB_OK;
    int status = WSB_OK;
    struct wsb_list_iter it;
    const char *p;
    size_t len;
    wsb_list_begin(&it, s, ',');
    while (wsb_list_next(&it, &p, &len)) {
        if (len == 1 && *p == '*') {
            out->any = 1;
        } else if (len == 0 || len > 256 || !origin_ok(p, len)) {
            status = wsb_fail(err, WSB_EINVAL, "entry %zu: '%.*s' is not an origin like https://app.example.com",
                              out->n + 1, (int)(len > 80 ? 80 : len), p);
            goto cleanup;
        } else {
            char **v = realloc(out->origins, (out->n + 1) * sizeof *v);
            if (v == NULL) {
                status = wsb_fail(err, WSB_ENOMEM, "out of memory");
                goto cleanup;
            }
            out->origins = v;
            if ((v[out->n] = strndup(p, len)) == NULL) {
                status = wsb_fail(err, WSB_ENOMEM, "out of memory");
                goto cleanup;
            }
            out->n++;
        }
    }
    return WSB_OK;
cleanup:
    wsb_cors_free(out);
    return status;
}

const char *wsb_cors_allow(const struct wsb_cors *c, const char *origin)
{
    if (c == NULL || origin == NULL || *origin == '\0')
        return NULL;
    if (c->any)
        return "*";
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return c->origins[i];
    return NULL;
}

