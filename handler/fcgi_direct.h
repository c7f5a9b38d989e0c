/* fcgi_direct.h: a FastCGI request answered without libfcgi, when the
 * whole of it already waits in the socket (the usual case behind nginx or
 * Apache): its parameters are read from the bytes the event loop peeked,
 * the request taken off the socket with one read, and the answer written
 * with one writev, with no allocation per request. */
#ifndef WSB_FCGI_DIRECT_H
#define WSB_FCGI_DIRECT_H

#include "fcgi.h"
#include "fcgi_frame.h"

/* The room one event loop reuses for every request. */
struct wsb_fcgi_direct;

/* Room for parameters of up to peek_max bytes.  NULL on ENOMEM. */
struct wsb_fcgi_direct *wsb_fcgi_direct_new(size_t peek_max);
void wsb_fcgi_direct_free(struct wsb_fcgi_direct *d);

/* Whether a request scan found COMPLETE in n peeked bytes can be answered
 * here: a responder's, and nothing after it in the socket. */
int wsb_fcgi_direct_fits(const struct wsb_frame_scan *scan, size_t n);

/* Answers the request at the start of buf (scanned COMPLETE, fits) on the
 * non-blocking socket fd: calls respond, takes the request's bytes off the
 * socket (read into buf, which is the caller's scratch from then on),
 * writes the answer (an answer larger than the socket takes at once waits
 * for room, up to 5 s).  Returns WSB_FCGI_KEEP or WSB_FCGI_DONE (as the
 * web server asked), or WSB_FCGI_FAILED (the socket failed, or the
 * parameters did not fit: close the connection).  Never closes fd. */
enum wsb_fcgi_after wsb_fcgi_direct_serve(struct wsb_fcgi_direct *d, int fd, unsigned char *buf,
                                          const struct wsb_frame_scan *scan, wsb_fcgi_respond_fn respond, void *arg,
                                          struct wsb_response *r);

#endif
