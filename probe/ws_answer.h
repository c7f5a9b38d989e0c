/* ws_answer.h: judging a server's answer to a WebSocket upgrade request
 * (RFC 6455 section 4.2.2) one header line at a time, as the lines come
 * (libcurl's header callback, or the probe's own plain client): the final
 * header block must be 101 with Upgrade: websocket, Connection: Upgrade
 * and the right Sec-WebSocket-Accept.  Pure functions over plain values. */
#ifndef WSB_PROBE_WS_ANSWER_H
#define WSB_PROBE_WS_ANSWER_H

#include "outcome.h"
#include "wskey.h"

#include <stddef.h>

/* What is known of the answer so far; zero-initialised is the start. */
struct wsb_ws_answer {
    long code;                        /* status of the latest header block */
    unsigned char upgrade_ok, connection_ok, accept_seen, accept_ok;
    unsigned char done;               /* the final header block has been judged */
    unsigned char flaw;               /* why it is not ok (ws_answer.c); 0 ok */
    unsigned char verdict;            /* enum wsb_outcome, valid when done: ok,
                                       * bad_status or bad_handshake */
};

/* Takes one header line of len bytes (its CR LF may be there or not): a
 * status line "HTTP/...", a header, or the empty line that ends a block
 * (a 1xx block other than 101 is followed by another).  Returns 1 when
 * this line ended the final block (a->done, a->verdict set), else 0.
 * want_accept is the Sec-WebSocket-Accept the key asks for. */
int wsb_ws_answer_line(struct wsb_ws_answer *a, const char *want_accept, const char *line, size_t len);

/* The verdict's detail into detail (len bytes): "" when ok, "HTTP 200
 * instead of 101", "wrong Sec-WebSocket-Accept", ...  a->done must be set. */
void wsb_ws_answer_detail(const struct wsb_ws_answer *a, char *detail, size_t len);

#endif
