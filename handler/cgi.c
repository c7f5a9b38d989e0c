/* cgi.c: one request answered as plain CGI, from the environment to
 * standard output. */
#include "cgi.h"
#include "status.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *env_param(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Answers one CGI request from the environment on standard output. */
int wsb_cgi_serve(struct wsb_handler *h)
{
    struct wsb_worker w;
    wsb_worker_init(&w);
    struct wsb_response *r = malloc(sizeof *r);
    int rc = 1;
    if (r != NULL) {
        wsb_handle(h, &w, env_param, NULL, r);
        rc = write_all(STDOUT_FILENO, r->buf, r->len) == 0 ? 0 : 1;
        if (rc == 0 && r->extra != NULL)
            rc = write_all(STDOUT_FILENO, r->extra, r->extra_len) == 0 ? 0 : 1;
        wsb_response_release(r);
        /* The answer ends at the end of standard output: close it, so that
         * the web server sends it on while this process tells Redis whom
         * it sent where. */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);   /* not closed: no socket may become fd 1 */
            close(null);
        } else {
            close(STDOUT_FILENO);
        }
        wsb_state_cache_flush(h->cache);
    }
    free(r);
    wsb_worker_free(&w);
    return rc;
}

/* A request the handler cannot serve for want of configuration still gets
 * a JSON answer under CGI; the reason goes to the log.  Returns 1. */
int wsb_cgi_config_error(void)
{
    size_t len;
    const char *body = wsb_error_body(500, &len);
    struct wsb_answer a;
    memset(&a, 0, sizeof a);
    a.status = 500;
    a.body = body;
    a.body_len = len;
    struct wsb_response r;
    if (wsb_response_build(&a, &r) == WSB_OK)
        (void)write_all(STDOUT_FILENO, r.buf, r.len);
    return 1;
}

