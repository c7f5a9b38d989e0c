/* percent.h: percent-decoding (RFC 3986 %XX escapes), for URL parts: the
 * user and password of a Redis URL, the handler's query parameters. */
#ifndef WSB_PERCENT_H
#define WSB_PERCENT_H

#include <stddef.h>

/* Decodes the %XX escapes of s (len bytes) into out, which has room for
 * max bytes (no NUL is added); with plus_is_space, '+' decodes to ' ' (the
 * form encoding of query strings).  Returns the decoded length, or -1 for
 * a broken escape ('%' not followed by two hex digits) or a result longer
 * than max (out then holds part of it).  Cannot fail otherwise. */
long wsb_percent_decode(const char *s, size_t len, int plus_is_space, char *out, size_t max);

#endif
