/* ws_answer.c: a WebSocket upgrade answer judged line by line (ws_answer.h). */
#include "ws_answer.h"

#include <stdio.h>
#include <string.h>

enum flaw { FINE = 0, NO_ACCEPT, WRONG_ACCEPT, NO_UPGRADE, NO_CONNECTION, NOT_101 };

/* Compares a header name of len bytes with a lower-case name. */
static int name_is(const char *s, size_t len, const char *lower)
{
    size_t n = strlen(lower);
    if (len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lower[i] && s[i] != lower[i])
            return 0;
    return 1;
}

/* 1 when the comma-separated list v (len bytes) holds token (lower case),
 * compared without regard to case. */
static int has_token(const char *v, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end > start && name_is(v + start, end - start, token))
            return 1;
    }
    return 0;
}

/* Judges a final header block. */
static void judge(struct wsb_ws_answer *a)
{
    a->done = 1;
    a->verdict = WSB_OUT_BAD_HANDSHAKE;
    if (a->code != 101) {
        a->flaw = NOT_101;
        a->verdict = WSB_OUT_BAD_STATUS;
    } else if (!a->accept_seen) {
        a->flaw = NO_ACCEPT;
    } else if (!a->accept_ok) {
        a->flaw = WRONG_ACCEPT;
    } else if (!a->upgrade_ok) {
        a->flaw = NO_UPGRADE;
    } else if (!a->connection_ok) {
        a->flaw = NO_CONNECTION;
    } else {
        a->flaw = FINE;
        a->verdict = WSB_OUT_OK;
    }
}

int wsb_ws_answer_line(struct wsb_ws_answer *a, const char *want_accept, const char *buf, size_t l)
{
    while (l > 0 && (buf[l - 1] == '\r' || buf[l - 1] == '\n'))
        l--;
    if (l >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', l);
        a->code = 0;
        if (sp != NULL)
            for (const char *p = sp + 1; p < buf + l && *p >= '0' && *p <= '9' && a->code < 1000; p++)
                a->code = a->code * 10 + (*p - '0');
        a->upgrade_ok = a->connection_ok = a->accept_seen = a->accept_ok = 0;
        return 0;
    }
    if (l == 0) {
        if (a->code >= 100 && a->code < 200 && a->code != 101)
            return 0;   /* 100 Continue and the like: another block follows */
        judge(a);
        return 1;
    }
    const char *colon = memchr(buf, ':', l);
    if (colon == NULL)
        return 0;
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = l - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (name_is(buf, nlen, "sec-websocket-accept")) {
        a->accept_ok = !a->accept_seen && vlen == WSB_WS_ACCEPT_LEN && memcmp(v, want_accept, vlen) == 0;
        a->accept_seen = 1;
    } else if (name_is(buf, nlen, "upgrade")) {
        a->upgrade_ok |= has_token(v, vlen, "websocket");
    } else if (name_is(buf, nlen, "connection")) {
        a->connection_ok |= has_token(v, vlen, "upgrade");
    }
    return 0;
}

void wsb_ws_answer_detail(const struct wsb_ws_answer *a, char *detail, size_t len)
{
    switch (a->flaw) {
    case NOT_101: snprintf(detail, len, "HTTP %ld instead of 101", a->code); break;
    case NO_ACCEPT: snprintf(detail, len, "101 without Sec-WebSocket-Accept"); break;
    case WRONG_ACCEPT: snprintf(detail, len, "wrong Sec-WebSocket-Accept"); break;
    case NO_UPGRADE: snprintf(detail, len, "101 without Upgrade: websocket"); break;
    case NO_CONNECTION: snprintf(detail, len, "101 without Connection: Upgrade"); break;
    default: snprintf(detail, len, "%s", ""); break;
    }
}
