/* fcgi_frame.c: FastCGI record framing of one request, from its headers. */
#include "fcgi_frame.h"

#include <string.h>

enum {
    FCGI_HEADER = 8,
    TYPE_BEGIN = 1,
    TYPE_PARAMS = 4,
    TYPE_STDIN = 5,
    ROLE_MAX = 3   /* responder 1, authorizer 2, filter 3 */
};

struct record {
    unsigned type, id;
    size_t content, total;   /* content bytes; header + content + padding */
    unsigned padding;
};

static void header_of(const unsigned char *p, struct record *r)
{
    r->type = p[1];
    r->id = (unsigned)p[2] << 8 | p[3];
    r->content = (size_t)p[4] << 8 | p[5];
    r->padding = p[6];
    r->total = FCGI_HEADER + r->content + r->padding;
}

/* The content bytes of one request's params records, read across record
 * boundaries. */
struct params_cursor {
    const unsigned char *buf;
    size_t pos, end;            /* the record at pos; the params end at end */
    size_t off;                 /* bytes of that record's content taken */
    unsigned id;
};

/* Moves to a params record of the request with content left; 0 at the end. */
static int cursor_ready(struct params_cursor *c)
{
    while (c->pos < c->end) {
        struct record r;
        header_of(c->buf + c->pos, &r);
        if (r.type == TYPE_PARAMS && r.id == c->id && c->off < r.content)
            return 1;
        c->pos += r.total;
        c->off = 0;
    }
    return 0;
}

/* Skips n content bytes (n = 1 reads one into *b).  0 when they are not
 * all there. */
static int cursor_take(struct params_cursor *c, unsigned long long n, unsigned char *b)
{
    while (n > 0) {
        if (!cursor_ready(c))
            return 0;
        struct record r;
        header_of(c->buf + c->pos, &r);
        size_t here = r.content - c->off;
        if (b != NULL)
            *b = c->buf[c->pos + FCGI_HEADER + c->off];
        size_t step = n < here ? (size_t)n : here;
        c->off += step;
        n -= step;
    }
    return 1;
}

/* A name or value length: one byte, or four with the high bit set; read
 * straight from the record when it lies in one (the usual case). */
static int cursor_length(struct params_cursor *c, unsigned long long *len)
{
    if (!cursor_ready(c))
        return 0;
    struct record r;
    header_of(c->buf + c->pos, &r);
    const unsigned char *p = c->buf + c->pos + FCGI_HEADER + c->off;
    size_t here = r.content - c->off;
    if (p[0] < 0x80 || here >= 4) {
        if (p[0] < 0x80) {
            *len = p[0];
            c->off += 1;
        } else {
            *len = (unsigned long long)(p[0] & 0x7f) << 24 | (unsigned long long)p[1] << 16 | (unsigned)p[2] << 8 |
                   p[3];
            c->off += 4;
        }
        return 1;
    }
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        if (!cursor_take(c, 1, &b[i]))
            return 0;
    *len = (unsigned long long)(b[0] & 0x7f) << 24 | (unsigned long long)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
    return 1;
}

/* Copies n content bytes to dst, record by record.  0 when they are not
 * all there. */
static int cursor_copy(struct params_cursor *c, size_t n, char *dst)
{
    while (n > 0) {
        if (!cursor_ready(c))
            return 0;
        struct record r;
        header_of(c->buf + c->pos, &r);
        size_t here = r.content - c->off, step = n < here ? n : here;
        memcpy(dst, c->buf + c->pos + FCGI_HEADER + c->off, step);
        dst += step;
        c->off += step;
        n -= step;
    }
    return 1;
}

/* The params as one run of bytes when they are one record (as nginx and
 * Apache send them): *p and *len, 1; else 0 (read across records). */
static int params_flat(const unsigned char *buf, size_t begin, size_t params_end, unsigned id,
                       const unsigned char **p, size_t *len)
{
    size_t pos = begin + FCGI_HEADER + 8;   /* past the BEGIN record */
    if (pos + FCGI_HEADER > params_end)
        return 0;
    struct record r;
    header_of(buf + pos, &r);
    if (r.type != TYPE_PARAMS || r.id != id || pos + r.total + FCGI_HEADER != params_end)
        return 0;
    *p = buf + pos + FCGI_HEADER;
    *len = r.content;
    return 1;
}

/* A length at p[*i] in a run of len bytes; 0 when it runs past the end. */
static int flat_length(const unsigned char *p, size_t len, size_t *i, unsigned long long *out)
{
    if (*i >= len)
        return 0;
    if (p[*i] < 0x80) {
        *out = p[(*i)++];
        return 1;
    }
    if (len - *i < 4)
        return 0;
    const unsigned char *b = p + *i;
    *out = (unsigned long long)(b[0] & 0x7f) << 24 | (unsigned long long)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
    *i += 4;
    return 1;
}

/* Walks the pairs of a run of len bytes: with arena, copies them as
 * wsb_frame_params does.  Returns how many, or (size_t)-1 when a length
 * runs past the end or they do not fit. */
static size_t pairs_flat(const unsigned char *p, size_t len, char *arena, size_t cap, struct wsb_frame_param *out,
                         size_t max)
{
    size_t i = 0, n = 0, used = 0;
    while (i < len) {
        unsigned long long name, value;
        if (!flat_length(p, len, &i, &name) || !flat_length(p, len, &i, &value) || name + value > len - i)
            return (size_t)-1;
        if (arena != NULL) {
            if (n == max || name + value + 2 > cap - used)
                return (size_t)-1;
            char *nm = arena + used, *val = nm + name + 1;
            memcpy(nm, p + i, (size_t)name);
            memcpy(val, p + i + name, (size_t)value);
            nm[name] = '\0';
            val[value] = '\0';
            out[n] = (struct wsb_frame_param){ nm, (size_t)name, val };
            used += (size_t)(name + value + 2);
        }
        n++;
        i += (size_t)(name + value);
    }
    return n;
}

size_t wsb_frame_params(const unsigned char *buf, const struct wsb_frame_scan *scan, char *arena, size_t cap,
                        struct wsb_frame_param *out, size_t max)
{
    const unsigned char *flat;
    size_t flat_len;
    if (params_flat(buf, scan->begin, scan->params_end, scan->id, &flat, &flat_len))
        return pairs_flat(flat, flat_len, arena, cap, out, max);
    struct params_cursor c = { buf, scan->begin, scan->params_end, 0, scan->id };
    size_t n = 0, used = 0;
    for (;;) {
        unsigned long long name, value;
        if (!cursor_ready(&c))
            return n;
        if (n == max || !cursor_length(&c, &name) || !cursor_length(&c, &value) ||
            name + value + 2 > cap - used)
            return (size_t)-1;
        char *nm = arena + used, *val = nm + name + 1;
        if (!cursor_copy(&c, (size_t)name, nm) || !cursor_copy(&c, (size_t)value, val))
            return (size_t)-1;
        nm[name] = '\0';
        val[value] = '\0';
        out[n].name = nm;
        out[n].name_len = (size_t)name;
        out[n].value = val;
        n++;
        used += (size_t)(name + value + 2);
    }
}

/* Whether every name-value pair of the params (from the BEGIN record at
 * begin to params_end) is whole: no length runs past the end.  libfcgi
 * before 2.4.5 (CVE-2025-23016) sized a pair's buffer from unchecked
 * lengths; a request that claims more than it holds never reaches it. */
static int params_whole(const unsigned char *buf, size_t begin, size_t params_end, unsigned id)
{
    const unsigned char *flat;
    size_t flat_len;
    if (params_flat(buf, begin, params_end, id, &flat, &flat_len))
        return pairs_flat(flat, flat_len, NULL, 0, NULL, 0) != (size_t)-1;
    struct params_cursor c = { buf, begin, params_end, 0, id };
    for (;;) {
        unsigned long long name, value;
        if (!cursor_ready(&c))
            return 1;
        if (!cursor_length(&c, &name) || !cursor_length(&c, &value) || !cursor_take(&c, name + value, NULL))
            return 0;
    }
}

enum wsb_frame wsb_frame_scan(const unsigned char *buf, size_t len, struct wsb_frame_scan *out)
{
    memset(out, 0, sizeof *out);
    enum { BEFORE_BEGIN, IN_PARAMS, IN_STDIN } at = BEFORE_BEGIN;
    unsigned id = 0;
    size_t pos = 0, begin = 0;
    for (;;) {
        enum wsb_frame short_of = at == IN_STDIN ? WSB_FRAME_PARAMS : WSB_FRAME_PARTIAL;
        if (len - pos < FCGI_HEADER)
            return short_of;
        if (buf[pos] != 1)
            return WSB_FRAME_BAD;
        struct record r;
        header_of(buf + pos, &r);
        out->type = r.type;
        if (r.id == 0) {
            /* A management record.  No web server sends one, and libfcgi
             * 2.4.2 mishandles them all: it leaks 48 bytes on every type
             * but FCGI_GET_VALUES, reads their content as the request's own
             * stream, and answers FCGI_GET_VALUES from a 64-byte stack
             * buffer with no bound whose padding it never clears. */
            return WSB_FRAME_BAD;
        } else if (at == BEFORE_BEGIN) {
            /* No padding on the records that end a stage: libfcgi 2.4
             * forgets it when it moves on (SetReaderType) and would read it
             * as the next header. */
            if (r.type != TYPE_BEGIN || r.content != 8 || r.id == 0 || r.padding != 0)
                return WSB_FRAME_BAD;
            if (len - pos < FCGI_HEADER + 3)   /* role and flags */
                return WSB_FRAME_PARTIAL;
            unsigned role = (unsigned)buf[pos + FCGI_HEADER] << 8 | buf[pos + FCGI_HEADER + 1];
            if (role == 0 || role > ROLE_MAX)
                return WSB_FRAME_BAD;
            id = r.id;
            begin = pos;
            out->begin = pos;
            out->id = id;
            out->role = role;
            out->keep = buf[pos + FCGI_HEADER + 2] & 1;
            at = IN_PARAMS;
        } else if (r.id != id || r.type != (at == IN_PARAMS ? TYPE_PARAMS : TYPE_STDIN)) {
            return WSB_FRAME_BAD;
        } else if (r.content == 0 && r.padding != 0) {
            return WSB_FRAME_BAD;
        } else if (r.content == 0 && at == IN_PARAMS) {
            if (len - pos < r.total)
                return WSB_FRAME_PARTIAL;
            at = IN_STDIN;
            out->params_end = pos + r.total;
            if (!params_whole(buf, begin, out->params_end, id))
                return WSB_FRAME_BAD;
        } else if (r.content == 0) {
            if (len - pos < r.total)
                return short_of;
            out->request_end = pos + r.total;
            return WSB_FRAME_COMPLETE;
        }
        if (len - pos < r.total)
            return short_of;
        pos += r.total;
    }
}
