/* main.c: wsb-handler: reads the command line and the settings, then
 * dispatches to --check, the pool, one FastCGI process, or CGI. */
#define _GNU_SOURCE
#include "cgi.h"
#include "cli.h"
#include "explain.h"
#include "fastcgi_process.h"
#include "fcgi.h"
#include "handler.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "status.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --workers: the pool, on --listen's socket or on standard input. */
static int run_pool(const struct wsb_options *opt, struct wsb_handler_config *cfg)
{
    char err[WSB_ERRLEN];
    struct wsb_listener l;
    memset(&l, 0, sizeof l);
    l.fd = STDIN_FILENO;
    const char *where = "the socket on standard input";
    if (opt->listen != NULL) {
        if (wsb_listener_open(opt->listen, opt->socket_mode, &l, err) != WSB_OK) {
            wsb_log_error("%s", err);
            return 2;
        }
        where = opt->listen;
    } else {
        l.tcp = wsb_socket_is_tcp(STDIN_FILENO);
    }
    int rc = wsb_pool_run(cfg, l.fd, l.tcp, where, opt->workers, opt->threads);
    if (opt->listen != NULL)
        wsb_listener_close(&l);
    return rc;
}

/* --check: the settings and the state, once, described on stdout. */
static int run_check(struct wsb_handler *h)
{
    char what[1024];
    int rc = wsb_handler_check(h, what, sizeof what) == WSB_OK ? 0 : 1;
    printf("%s\n", what);
    return rc;
}

/* --explain: one client's answer, node by node, on stdout. */
static int run_explain(struct wsb_handler *h, const struct wsb_options *opt)
{
    char err[WSB_ERRLEN];
    struct wsb_ip ip;
    if (wsb_ip_parse(opt->explain, strlen(opt->explain), &ip) != WSB_OK) {
        fprintf(stderr, "wsb-handler: --explain: '%s' is not an IPv4 or IPv6 address\n", opt->explain);
        return 2;
    }
    if (wsb_explain(h, &ip, opt->explain_version, opt->json, stdout, err) != WSB_OK) {
        fprintf(stderr, "wsb-handler: --explain: %s\n", err);
        return 1;
    }
    return 0;
}

/* Without a FastCGI socket: one CGI request, unless nobody asked. */
static int run_cgi(struct wsb_handler *h)
{
    if (getenv("GATEWAY_INTERFACE") == NULL && getenv("REQUEST_METHOD") == NULL && isatty(STDIN_FILENO)) {
        fprintf(stderr, "wsb-handler: not started by a web server (no FastCGI socket, no CGI request); "
                        "see --help, or try --check\n");
        return 2;
    }
    return wsb_cgi_serve(h);
}

/* The settings; on an error, the exit status to leave with (a CGI run
 * still answers, with a JSON 500). */
static int read_settings(const struct wsb_options *opt, int is_cgi, struct wsb_handler_config *cfg)
{
    char err[WSB_ERRLEN];
    if (wsb_handler_config_from_env(cfg, err) == WSB_OK) {
        wsb_log_init("wsb-handler", cfg->log_level);
        return 0;
    }
    wsb_log_error("configuration: %s", err);
    if (opt->check || opt->explain) {
        fprintf(stderr, "wsb-handler: configuration: %s\n", err);
        return 2;
    }
    return is_cgi ? wsb_cgi_config_error() : 2;
}

int main(int argc, char **argv)
{
    /* One malloc arena: each snapshot is built by whichever thread refreshes
     * it, and with an arena per thread the freed snapshots' memory scatters
     * over many arenas (measured, 48 threads, 1,000 nodes: resident memory
     * climbing past 19 MB per process, against a steady 8 MB with one).
     * The decision path does not allocate.  An operator's MALLOC_ARENA_MAX
     * wins. */
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 1);
    struct wsb_options opt;
    int a = wsb_cli_parse(argc, argv, &opt);
    if (a != 0)
        return a > 0 ? 0 : 2;

    wsb_log_init("wsb-handler", WSB_LOG_INFO);
    if (wsb_fcgi_init() != WSB_OK) {
        wsb_log_error("fastcgi: library initialisation failed");
        return 1;
    }
    int is_cgi = opt.listen == NULL && wsb_fcgi_is_cgi();
    if ((opt.workers || opt.threads > 1) && is_cgi && !opt.check && !opt.explain) {
        fprintf(stderr, "wsb-handler: --workers and --threads need a FastCGI socket: --listen ADDR, or a "
                        "listening socket on standard input\n");
        return 2;
    }
    if (wsb_error_bodies_init() != WSB_OK) {
        wsb_log_error("out of memory at start");
        return 1;
    }
    struct wsb_handler_config cfg;
    int rc = read_settings(&opt, is_cgi, &cfg);
    if (rc != 0)
        return rc;
    if (opt.workers > 0) {
        rc = run_pool(&opt, &cfg);
        wsb_handler_config_free(&cfg);
        return rc;
    }
    struct wsb_handler *h = wsb_handler_new(&cfg);
    if (h == NULL) {
        wsb_log_error("out of memory at start");
        return 1;
    }
    if (opt.check)
        rc = run_check(h);
    else if (opt.explain)
        rc = run_explain(h, &opt);
    else if (is_cgi)
        rc = run_cgi(h);
    else
        rc = wsb_serve_fastcgi(h, STDIN_FILENO, wsb_socket_is_tcp(STDIN_FILENO), opt.threads);
    wsb_handler_free(h);
    return rc;
}
