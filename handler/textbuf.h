/* textbuf.h: a growable text buffer for answers too large for a fixed
 * response (the metrics exposition). */
#ifndef WSB_TEXTBUF_H
#define WSB_TEXTBUF_H

#include <stddef.h>

/* Zero it to start (or use WSB_TEXTBUF_INIT); the bytes are the caller's
 * to take (wsb_textbuf_take) or to free (wsb_textbuf_free). */
struct wsb_textbuf {
    char *p;          /* NUL-terminated while len > 0; NULL before the first append */
    size_t len, cap;
    int failed;       /* an append ran out of memory: the text is incomplete */
};

#define WSB_TEXTBUF_INIT { NULL, 0, 0, 0 }

/* Appends formatted text.  On ENOMEM sets b->failed and leaves the text
 * as it was; later appends do nothing.  Cannot fail otherwise. */
void wsb_textbuf_printf(struct wsb_textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends n bytes of s (n may be 0); as wsb_textbuf_printf on ENOMEM. */
void wsb_textbuf_append(struct wsb_textbuf *b, const char *s, size_t n);

/* Frees the text and zeroes b; NULL accepted. */
void wsb_textbuf_free(struct wsb_textbuf *b);

#endif
