/* strlist.h: walking a separated list such as "a, b,c" (WSB_TRUSTED_PROXIES,
 * WSB_CORS_ORIGINS, WSB_REDIS_URL) without copying it, and trimming. */
#ifndef WSB_STRLIST_H
#define WSB_STRLIST_H

#include <stddef.h>

/* Where a walk over a list stands.  Holds a pointer into the caller's
 * string, which must outlive the walk; nothing to free. */
struct wsb_list_iter {
    const char *p;      /* the next entry, NULL when the walk is over */
    char sep;
};

/* Starts a walk over s (NUL-terminated; NULL or "" is a list of no
 * entries), entries separated by sep. */
void wsb_list_begin(struct wsb_list_iter *it, const char *s, char sep);

/* Returns 1 with *item and *len set to the next entry, trimmed of spaces
 * and tabs (it may be empty: "a,,b" and "a," have an empty entry, which the
 * caller rejects or skips), or 0 when there is none left. */
int wsb_list_next(struct wsb_list_iter *it, const char **item, size_t *len);

/* Whether the entry just returned was the last one. */
int wsb_list_done(const struct wsb_list_iter *it);

/* Narrows the text (*s, *len) to leave out leading and trailing spaces and tabs. */
void wsb_trim(const char **s, size_t *len);

#endif
