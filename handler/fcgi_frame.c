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
};

static void header_of(const unsigned char *p, struct record *r)
{
    r->type = p[1];
    r->id = (unsigned)p[2] << 8 | p[3];
    r->content = (size_t)p[4] << 8 | p[5];
    r->total = FCGI_HEADER + r->content + p[6];
}

enum wsb_frame wsb_frame_scan(const unsigned char *buf, size_t len, struct wsb_frame_scan *out)
{
    memset(out, 0, sizeof *out);
    enum { BEFORE_BEGIN, IN_PARAMS, IN_STDIN } at = BEFORE_BEGIN;
    unsigned id = 0;
    size_t pos = 0;
    for (;;) {
        enum wsb_frame short_of = at == IN_STDIN ? WSB_FRAME_PARAMS : WSB_FRAME_PARTIAL;
        if (len - pos < FCGI_HEADER)
            return short_of;
        if (buf[pos] != 1)
            return WSB_FRAME_BAD;
        struct record r;
        header_of(buf + pos, &r);
        out->type = r.type;
        if (r.id == 0 && r.type != TYPE_BEGIN) {
            /* A management record (FCGI_GET_VALUES): libfcgi answers it
             * wherever it comes. */
        } else if (at == BEFORE_BEGIN) {
            if (r.type != TYPE_BEGIN || r.content != 8)
                return WSB_FRAME_BAD;
            if (len - pos < FCGI_HEADER + 2)
                return WSB_FRAME_PARTIAL;
            unsigned role = (unsigned)buf[pos + FCGI_HEADER] << 8 | buf[pos + FCGI_HEADER + 1];
            if (role == 0 || role > ROLE_MAX)
                return WSB_FRAME_BAD;
            id = r.id;
            at = IN_PARAMS;
        } else if (r.id != id || r.type != (at == IN_PARAMS ? TYPE_PARAMS : TYPE_STDIN)) {
            return WSB_FRAME_BAD;
        } else if (r.content == 0 && at == IN_PARAMS) {
            if (len - pos < r.total)
                return WSB_FRAME_PARTIAL;
            at = IN_STDIN;
            out->params_end = pos + r.total;
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
