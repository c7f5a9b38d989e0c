/* query.c: the route's optional query parameters, exclude and affinity (see query.h). */
#include "query.h"
#include "percent.h"

#include <string.h>

void wsb_query_parse(const char *qs, size_t len, struct wsb_query *q)
{
    q->n_exclude = 0;
    q->affinity = NULL;
    q->affinity_len = 0;
    q->ignored = 0;
    if (qs == NULL)
        return;
    if (len > WSB_QUERY_MAX) {
        len = WSB_QUERY_MAX;
        q->ignored++;
    }
    size_t used = 0;   /* bytes of q->buf taken */
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && qs[end] != '&')
            end++;
        const char *pair = qs + i;
        size_t plen = end - i;
        i = end + 1;
        const char *eq = memchr(pair, '=', plen);
        if (eq == NULL)
            continue;   /* a bare name: nothing we read */
        size_t klen = (size_t)(eq - pair);
        const char *val = eq + 1;
        size_t vlen = plen - klen - 1;
        int is_exclude = klen == 7 && memcmp(pair, "exclude", 7) == 0;
        int is_affinity = klen == 8 && memcmp(pair, "affinity", 8) == 0;
        if (!is_exclude && !is_affinity)
            continue;
        if ((is_exclude && q->n_exclude == WSB_QUERY_MAX_EXCLUDE) || (is_affinity && q->affinity != NULL)) {
            q->ignored++;
            continue;
        }
        size_t max = is_exclude ? WSB_MAX_ENDPOINT : WSB_AFFINITY_MAX;
        char *dst = q->buf + used;
        long n = wsb_percent_decode(val, vlen, 1, dst, max);
        if (n <= 0 || (is_exclude && memchr(dst, '\0', (size_t)n) != NULL)) {
            q->ignored++;
            continue;
        }
        dst[n] = '\0';
        used += (size_t)n + 1;
        if (is_exclude) {
            q->exclude[q->n_exclude] = dst;
            q->exclude_len[q->n_exclude++] = (size_t)n;
        } else {
            q->affinity = dst;
            q->affinity_len = (size_t)n;
        }
    }
}

const char *wsb_query_string(wsb_param_fn get, void *ctx, size_t *len)
{
    *len = 0;
    const char *qs = get("QUERY_STRING", ctx);
    if (qs == NULL) {
        const char *uri = get("REQUEST_URI", ctx);
        if (uri == NULL)
            return NULL;
        size_t path = strcspn(uri, "?#");
        if (uri[path] != '?')
            return NULL;
        qs = uri + path + 1;
        *len = strcspn(qs, "#");
    } else {
        *len = strlen(qs);
    }
    if (*len == 0)
        return NULL;
    return qs;
}

int wsb_query_any(const struct wsb_query *q)
{
    return q->n_exclude > 0 || q->affinity != NULL;
}
