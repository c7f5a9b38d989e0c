/* fcgi_frame.h: how much of a FastCGI request some bytes hold, read from
 * the record headers alone, so that the event loop hands a request to
 * libfcgi only once no read of it can block.  Pure: fed bytes in unit
 * tests (tests/unit/test_fcgi.c). */
#ifndef WSB_FCGI_FRAME_H
#define WSB_FCGI_FRAME_H

#include <stddef.h>

enum wsb_frame {
    WSB_FRAME_PARTIAL,   /* the parameters are not all there yet */
    WSB_FRAME_PARAMS,    /* the parameters are; the body (stdin) has not ended yet */
    WSB_FRAME_COMPLETE,  /* the whole request, through its empty stdin record */
    WSB_FRAME_BAD        /* not a request: wrong version, record out of place, another request id, unknown role */
};

struct wsb_frame_scan {
    size_t params_end;   /* PARAMS, COMPLETE: bytes through the empty params record */
    size_t request_end;  /* COMPLETE: bytes through the empty stdin record */
    unsigned type;       /* BAD: the type of the record found out of place */
    size_t begin;        /* PARAMS, COMPLETE: where the BEGIN record is */
    unsigned id;         /* PARAMS, COMPLETE: the request id */
    unsigned role;       /* PARAMS, COMPLETE: 1 responder, 2 authorizer, 3 filter */
    int keep;            /* PARAMS, COMPLETE: the web server keeps the connection (FCGI_KEEP_CONN) */
};

/* One parameter, NUL-terminated copies of its name and value. */
struct wsb_frame_param {
    const char *name;
    size_t name_len;
    const char *value;
};

/* Reads the records at the start of buf (len bytes; a request begins
 * there).  Records are
 * as libfcgi 2.4 accepts them: version 1; one FCGI_BEGIN_REQUEST (8 bytes,
 * role responder, authorizer or filter; request id above 0); FCGI_PARAMS
 * of its id up to an empty one, whose name-value pairs are whole (no length
 * runs past the parameters' end); FCGI_STDIN up to an empty one; no padding
 * on the BEGIN and the two empty records (libfcgi loses it there); no
 * management records (request id 0), which libfcgi 2.4.2 mishandles.  Never
 * fails otherwise; *out is filled as each value says. */
enum wsb_frame wsb_frame_scan(const unsigned char *buf, size_t len, struct wsb_frame_scan *out);

/* The parameters of a request that wsb_frame_scan found PARAMS or
 * COMPLETE in buf: up to max of them into out, their names and values
 * copied into arena (cap bytes; each takes its lengths plus two).
 * Returns how many, or (size_t)-1 when they do not fit. */
size_t wsb_frame_params(const unsigned char *buf, const struct wsb_frame_scan *scan, char *arena, size_t cap,
                        struct wsb_frame_param *out, size_t max);

#endif
