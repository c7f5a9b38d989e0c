/* main.c: wsb-handler, the balancer's FastCGI responder; plain CGI when no
 * FastCGI server started it.  Configuration comes from WSB_* variables. */
#include "handler.h"
#include "log.h"
#include "status.h"

#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsb-handler [--check | --help | --version]\n"
            "\n"
            "The wsbalancer handler answers GET /v{N}/websocket/server with the WebSocket\n"
            "endpoint a client should use.  Mount it under a web server as FastCGI (it is\n"
            "then started with a listening socket on standard input) or as CGI.\n"
            "\n"
            "  --check     read the configuration and the Redis state once, print what\n"
            "              was found, exit 0 when both are usable\n"
            "  --help      this text\n"
            "  --version   the version\n"
            "\n"
            "Configuration (environment): WSB_REDIS_URL, WSB_REDIS_PASSWORD_FILE,\n"
            "WSB_KEY_PREFIX, WSB_GEOIP_DB, WSB_TRUSTED_PROXIES, WSB_CORS_ORIGINS,\n"
            "WSB_MAX_LOAD, WSB_CACHE_MS, WSB_STALE_MAX_MS, WSB_REDIS_CONNECT_TIMEOUT_MS,\n"
            "WSB_REDIS_TIMEOUT_MS, WSB_REDIS_RETRY_MS, WSB_NEAR_KM, WSB_UNKNOWN_LOAD,\n"
            "WSB_RETRY_AFTER, WSB_ALLOW_INSECURE_WS, WSB_GEOIP_CHECK_MS, WSB_LOG_LEVEL.\n"
            "See README.md for each.\n");
}

static const char *fcgi_param(const char *name, void *ctx)
{
    return FCGX_GetParam(name, (FCGX_ParamArray)ctx);
}

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
static int serve_cgi(struct wsb_handler *h)
{
    struct wsb_worker w;
    wsb_worker_init(&w);
    struct wsb_response *r = malloc(sizeof *r);
    int rc = 1;
    if (r != NULL) {
        wsb_handle(h, &w, env_param, NULL, r);
        rc = write_all(STDOUT_FILENO, r->buf, r->len) == 0 ? 0 : 1;
    }
    free(r);
    wsb_worker_free(&w);
    return rc;
}

/* Accepts FastCGI requests on listen_fd until the server closes it. */
static int serve_fastcgi(struct wsb_handler *h, int listen_fd)
{
    FCGX_Request req;
    if (FCGX_InitRequest(&req, listen_fd, 0) != 0) {
        wsb_log_error("fastcgi: cannot initialise a request");
        return 1;
    }
    struct wsb_worker w;
    wsb_worker_init(&w);
    struct wsb_response *r = malloc(sizeof *r);
    if (r == NULL) {
        wsb_log_error("out of memory");
        return 1;
    }
    while (FCGX_Accept_r(&req) >= 0) {
        wsb_handle(h, &w, fcgi_param, req.envp, r);
        FCGX_PutStr(r->buf, (int)r->len, req.out);
        FCGX_Finish_r(&req);
    }
    free(r);
    wsb_worker_free(&w);
    return 0;
}

/* A request the handler cannot serve for want of configuration still gets
 * a JSON answer under CGI; the reason goes to the log. */
static int cgi_config_error(void)
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
        return write_all(STDOUT_FILENO, r.buf, r.len) == 0 ? 1 : 1;
    return 1;
}

int main(int argc, char **argv)
{
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("wsb-handler %s\n", WSB_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "wsb-handler: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    wsb_log_init("wsb-handler", WSB_LOG_INFO);
    if (FCGX_Init() != 0) {
        wsb_log_error("fastcgi: library initialisation failed");
        return 1;
    }
    int is_cgi = FCGX_IsCGI();
    if (wsb_error_bodies_init() != WSB_OK) {
        wsb_log_error("out of memory at start");
        return 1;
    }

    char err[WSB_ERRLEN];
    struct wsb_handler_config cfg;
    if (wsb_handler_config_from_env(&cfg, err) != WSB_OK) {
        wsb_log_error("configuration: %s", err);
        if (check) {
            fprintf(stderr, "wsb-handler: configuration: %s\n", err);
            return 2;
        }
        return is_cgi ? cgi_config_error() : 2;
    }
    wsb_log_init("wsb-handler", cfg.log_level);
    struct wsb_handler *h = wsb_handler_new(&cfg);
    if (h == NULL) {
        wsb_log_error("out of memory at start");
        return 1;
    }
    int rc;
    if (check) {
        char what[1024];
        rc = wsb_handler_check(h, what, sizeof what) == WSB_OK ? 0 : 1;
        printf("%s\n", what);
    } else if (is_cgi) {
        if (getenv("GATEWAY_INTERFACE") == NULL && getenv("REQUEST_METHOD") == NULL && isatty(STDIN_FILENO)) {
            fprintf(stderr, "wsb-handler: not started by a web server (no FastCGI socket, no CGI request); "
                            "see --help, or try --check\n");
            rc = 2;
        } else {
            rc = serve_cgi(h);
        }
    } else {
        rc = serve_fastcgi(h, 0);
    }
    wsb_handler_free(h);
    return rc;
}
