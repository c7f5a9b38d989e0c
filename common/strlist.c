/* strlist.c: separated lists and trimming, shared by every list setting. */
#include "strlist.h"

#include <string.h>

void wsb_trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

void wsb_list_begin(struct wsb_list_iter *it, const char *s, char sep)
{
    it->p = s != NULL && *s != '\0' ? s : NULL;
    it->sep = sep;
}

int wsb_list_next(struct wsb_list_iter *it, const char **item, size_t *len)
{
    if (it->p == NULL)
        return 0;
    const char *end = strchr(it->p, it->sep);
    *item = it->p;
    *len = end != NULL ? (size_t)(end - it->p) : strlen(it->p);
    it->p = end != NULL ? end + 1 : NULL;
    wsb_trim(item, len);
    return 1;
}

int wsb_list_done(const struct wsb_list_iter *it)
{
    return it->p == NULL;
}
