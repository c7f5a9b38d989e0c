/* fcgi.c: the one room where libfcgi lives: its initialisation, and one
 * request served on a connection the event loop accepted itself. */
#include "fcgi.h"
#include "status.h"

#include <fcgiapp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdlib.h>
#include <unistd.h>

/* libfcgi reads and writes a request on req.ipcFd.  fcgiapp.h lists it,
 * with keepConnection and detached, below "Don't use anything below here";
 * this file relies on them as libfcgi 2.4.2 to 2.4.7 define them (the Makefile
 * refuses to build against a libfcgi it was not checked with):
 *   ipcFd          the connection; FCGX_Accept_r reads from it when it is
 *                  >= 0 instead of accepting, and sets it to -1 when it
 *                  closed it (a request it rejected).
 *   keepConnection set by FCGX_Accept_r from the web server's
 *                  FCGI_KEEP_CONN flag; FCGX_Accept_r's opening
 *                  FCGX_Finish_r closes the connection unless it is set, so
 *                  it is set before each call.
 *   detached       set through the public FCGX_Detach: a connection libfcgi
 *                  closes itself is then closed outright, not through
 *                  OS_IpcClose's shutdown-and-wait (up to 2 s).
 * The request's listening socket is -1, so that libfcgi never accepts. */
struct wsb_fcgi_conn {
    FCGX_Request req;
};

int wsb_fcgi_init(void)
{
    struct sigaction term;
    if (sigaction(SIGTERM, NULL, &term) != 0)
        return WSB_ESYS;
    if (FCGX_Init() != 0)
        return WSB_ESYS;
    /* FCGX_Init set SIGTERM to a handler that only notes a shutdown
     * request (for FCGX_Accept's loop, which this program does not use). */
    return sigaction(SIGTERM, &term, NULL) == 0 ? WSB_OK : WSB_ESYS;
}

int wsb_fcgi_is_cgi(void)
{
    return FCGX_IsCGI();
}

struct wsb_fcgi_conn *wsb_fcgi_conn_new(int fd)
{
    struct wsb_fcgi_conn *c = fd > 0 ? calloc(1, sizeof *c) : NULL;
    if (c == NULL || FCGX_InitRequest(&c->req, -1, 0) != 0) {
        free(c);
        return NULL;
    }
    c->req.ipcFd = fd;
    return c;
}

int wsb_fcgi_conn_fd(const struct wsb_fcgi_conn *c)
{
    return c->req.ipcFd;
}

int wsb_fcgi_conn_release(struct wsb_fcgi_conn *c)
{
    if (c == NULL)
        return -1;
    int fd = c->req.ipcFd;
    c->req.ipcFd = -1;
    FCGX_Free(&c->req, 0);
    free(c);
    return fd;
}

void wsb_fcgi_conn_free(struct wsb_fcgi_conn *c)
{
    int fd = wsb_fcgi_conn_release(c);
    if (fd >= 0)
        close(fd);
}

static const char *param(const char *name, void *envp)
{
    return FCGX_GetParam(name, (FCGX_ParamArray)envp);
}

/* Writes a body larger than the socket may take at once (the metrics):
 * the connection is non-blocking, and libfcgi does not wait for room, so
 * it blocks for the write, at most LARGE_WRITE_S, then is as it was.
 * Returns 0, or -1 when the body could not all be sent. */
#define LARGE_WRITE_S 5
static int put_large(FCGX_Request *req, const char *body, size_t len)
{
    int fd = req->ipcFd;
    int fl = fcntl(fd, F_GETFL);
    struct timeval tv = { LARGE_WRITE_S, 0 }, was;
    socklen_t was_len = sizeof was;
    if (fl < 0 || getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &was, &was_len) != 0)
        return -1;
    if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        fcntl(fd, F_SETFL, fl);
        return -1;
    }
    int rc = 0;
    while (len > 0 && rc == 0) {
        int chunk = len > 1 << 20 ? 1 << 20 : (int)len;
        rc = FCGX_PutStr(body, chunk, req->out) == chunk ? 0 : -1;
        body += chunk;
        len -= (size_t)chunk;
    }
    if (rc == 0)
        rc = FCGX_FFlush(req->out) == 0 ? 0 : -1;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &was, sizeof was);
    fcntl(fd, F_SETFL, fl);
    return rc;
}

enum wsb_fcgi_after wsb_fcgi_serve(struct wsb_fcgi_conn *c, int body_complete, wsb_fcgi_respond_fn respond,
                                   void *arg, struct wsb_response *r)
{
    FCGX_Request *req = &c->req;
    req->keepConnection = 1;   /* else FCGX_Accept_r's opening Finish closes it */
    FCGX_Detach(req);
    if (FCGX_Accept_r(req) < 0)
        return WSB_FCGI_FAILED;   /* rejected: libfcgi closed the connection (outright) */
    r->extra = NULL;   /* a responder that fills buf itself leaves it so */
    r->extra_len = 0;
    respond(arg, param, req->envp, r);
    int keep = req->keepConnection;
    if (body_complete) {
        char buf[4096];
        while (FCGX_GetStr(buf, (int)sizeof buf, req->in) > 0)
            ;
    }
    FCGX_PutStr(r->buf, (int)r->len, req->out);
    int failed = 0;
    if (r->extra != NULL)
        failed = put_large(req, r->extra, r->extra_len) != 0;
    wsb_response_release(r);
    failed |= FCGX_FClose(req->err) != 0;
    failed |= FCGX_FClose(req->out) != 0;
    failed |= FCGX_GetError(req->in) != 0;
    FCGX_Free(req, 0);   /* the streams and parameters; the connection stays */
    if (failed)
        return WSB_FCGI_FAILED;
    if (!body_complete)
        return WSB_FCGI_UNREAD;
    return keep ? WSB_FCGI_KEEP : WSB_FCGI_DONE;
}
