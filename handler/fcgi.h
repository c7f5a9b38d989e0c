/* fcgi.h: FastCGI over libfcgi, for the event loop and the CGI check.
 * handler/fcgi.c is the only file that includes fcgiapp.h or touches an
 * FCGX_Request: the rest of the handler sees a connection and a function
 * that answers the request waiting on it. */
#ifndef WSB_FCGI_H
#define WSB_FCGI_H

#include "http.h"

/* Initialises libfcgi, then gives SIGTERM back the disposition it had:
 * libfcgi installs a handler that only sets a flag, which would make a CGI
 * run or a pool worker deaf to SIGTERM.  Returns WSB_OK or WSB_ESYS. */
int wsb_fcgi_init(void);

/* Whether standard input is not a FastCGI listening socket (then the
 * process is a CGI run).  After wsb_fcgi_init. */
int wsb_fcgi_is_cgi(void);

/* One FastCGI connection, accepted by the caller. */
struct wsb_fcgi_conn;

/* Takes the connected, non-blocking socket fd (above 0: libfcgi's
 * FCGX_Detach refuses 0).  Returns NULL on ENOMEM or fd 0, leaving fd open
 * (the caller's to close). */
struct wsb_fcgi_conn *wsb_fcgi_conn_new(int fd);

/* The connection's socket, -1 once libfcgi closed it. */
int wsb_fcgi_conn_fd(const struct wsb_fcgi_conn *c);

/* Closes the socket outright (never libfcgi's lingering close, which waits
 * up to 2 s for the peer) and frees c; NULL accepted. */
void wsb_fcgi_conn_free(struct wsb_fcgi_conn *c);

/* Frees c and returns its socket, still open, for the caller to close
 * (for a lingering close of its own); -1 when it was already closed. */
int wsb_fcgi_conn_release(struct wsb_fcgi_conn *c);

/* Answers a request from its parameters into *r. */
typedef void (*wsb_fcgi_respond_fn)(void *arg, wsb_param_fn get, void *params, struct wsb_response *r);

/* What became of a connection after wsb_fcgi_serve. */
enum wsb_fcgi_after {
    WSB_FCGI_KEEP,      /* the web server keeps it for its next request */
    WSB_FCGI_DONE,      /* answered and read to the end; the web server did not ask to keep it */
    WSB_FCGI_UNREAD,    /* answered, but the request's body was not read to its end */
    WSB_FCGI_FAILED     /* not answered (protocol or socket error): close it */
};

/* Serves the one request waiting on c.  The caller has made sure, from
 * the record headers in the socket (fcgi_frame.h), that its parameters are
 * all there, and with body_complete that its body is too: then no read
 * here can block, nor find nothing (the socket is non-blocking).  The
 * body is read and ignored; without body_complete it is left unread.  The
 * answer is written in one go (a peer whose socket buffer cannot take it
 * is not reading its answers: WSB_FCGI_FAILED).  Never closes the socket
 * itself except when libfcgi rejects the request (then
 * wsb_fcgi_conn_fd(c) is -1). */
enum wsb_fcgi_after wsb_fcgi_serve(struct wsb_fcgi_conn *c, int body_complete, wsb_fcgi_respond_fn respond,
                                   void *arg, struct wsb_response *r);

#endif
