/* cli.c: wsb-handler's options, their checks and --help. */
#include "cli.h"
#include "config.h"
#include "netaddr.h"
#include "node.h"
#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void wsb_cli_usage(FILE *f)
{
    fprintf(f,
            "usage: wsb-handler [--listen ADDR [--socket-mode MODE]] [--workers N] [--threads T]\n"
            "       wsb-handler --check | --explain ADDRESS [vN] [--json] | --help | --version\n"
            "\n"
            "The wsbalancer handler answers GET /v{N}/websocket/server with the WebSocket\n"
            "endpoint a client should use.  Three ways to run it:\n"
            "\n"
            "  FastCGI, started by the web server (lighttpd bin-path, Apache mod_fcgid,\n"
            "    spawn-fcgi): the listening socket is standard input.  No options needed.\n"
            "  A pool of its own (Apache mod_proxy_fcgi, nginx fastcgi_pass, systemd):\n"
            "    --listen ADDR opens the socket, --workers N pre-forks N processes that\n"
            "    accept on it; a worker that dies is restarted (with a growing delay if\n"
            "    workers keep dying at once).  SIGTERM, SIGINT or SIGHUP stop the pool.\n"
            "  CGI, when neither applies: one request from the environment.\n"
            "\n"
            "  --listen ADDR      a unix socket path (/run/wsbalancer/handler.sock), or\n"
            "                     HOST:PORT, [V6]:PORT, or :PORT (= 127.0.0.1:PORT).\n"
            "                     FastCGI has no authentication: keep it on loopback or\n"
            "                     a unix socket.\n"
            "  --socket-mode MODE permissions of the unix socket, octal (0660)\n"
            "  --workers N        processes (1..%d); default with --listen: half the\n"
            "                     number of CPUs, at least 1; without --listen, the pool\n"
            "                     accepts on standard input\n"
            "  --threads T        event loops per process, a thread each (1..%d, default\n"
            "                     1); connections the web server keeps open (nginx\n"
            "                     fastcgi_keep_conn) hold no thread while idle\n"
            "  --check            read the configuration and the Redis state once, print\n"
            "                     what was found, exit 0 when both are usable\n"
            "  --explain ADDRESS [vN]\n"
            "                     read the state once and show how a client at ADDRESS\n"
            "                     asking for vN (default v1) is answered: its location,\n"
            "                     every node with the filter that dropped it or its\n"
            "                     chance of being drawn, and the answer\n"
            "  --json             --explain's report as one JSON object\n"
            "  --help             this text\n"
            "  --version          the version\n"
            "\n"
            "Configuration (environment): WSB_REDIS_URL, WSB_REDIS_PASSWORD_FILE,\n"
            "WSB_KEY_PREFIX, WSB_GEOIP_DB, WSB_TRUSTED_PROXIES, WSB_CORS_ORIGINS,\n"
            "WSB_MAX_LOAD, WSB_CACHE_MS, WSB_STALE_MAX_MS, WSB_REDIS_CONNECT_TIMEOUT_MS,\n"
            "WSB_REDIS_TIMEOUT_MS, WSB_REDIS_RETRY_MS, WSB_NEAR_KM, WSB_UNKNOWN_LOAD,\n"
            "WSB_RETRY_AFTER, WSB_ALLOW_INSECURE_WS, WSB_GEOIP_CHECK_MS, WSB_BUSY_POLL_US,\n"
            "WSB_LOG_LEVEL.\n"
            "See wsb-handler(1) or README.md for each.\n",
            WSB_MAX_WORKERS, WSB_MAX_THREADS);
}


/* Returns 0 to go on, 1 when done (--help, --version), -1 on a usage
 * error (reported on stderr). */
int wsb_cli_parse(int argc, char **argv, struct wsb_options *o)
{
    memset(o, 0, sizeof *o);
    o->socket_mode = -1;
    o->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            wsb_cli_usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("wsb-handler %s\n", WSB_VERSION);
            return 1;
        } else if (strcmp(a, "--check") == 0) {
            o->check = 1;
            continue;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        } else if (strcmp(a, "--explain") == 0) {
            struct wsb_ip ip;
            if (v == NULL || v[0] == '\0' || wsb_ip_parse(v, strlen(v), &ip) != WSB_OK) {
                fprintf(stderr, "wsb-handler: --explain: '%s' is not an IPv4 or IPv6 address\n", v ? v : "");
                return -1;
            }
            o->explain = v;
            o->explain_version = 1;
            const char *ver = i + 2 < argc ? argv[i + 2] : NULL;
            if (ver != NULL && ver[0] == 'v') {
                if (wsb_version_parse(ver, strlen(ver), &o->explain_version) != WSB_OK) {
                    fprintf(stderr, "wsb-handler: --explain: '%s' is not a version v1..v%u\n", ver,
                            WSB_MAX_VERSION);
                    return -1;
                }
                i++;
            } else if (ver != NULL && strncmp(ver, "--", 2) != 0) {
                fprintf(stderr, "wsb-handler: --explain: '%s' is not a version v1..v%u\n", ver, WSB_MAX_VERSION);
                return -1;
            }
        } else if (strcmp(a, "--listen") == 0) {
            if (v == NULL || v[0] == '\0') {
                fprintf(stderr, "wsb-handler: --listen: needs a socket path or HOST:PORT\n");
                return -1;
            }
            o->listen = v;
        } else if (strcmp(a, "--workers") == 0) {
            if (wsb_arg_long("wsb-handler", a, v, 1, WSB_MAX_WORKERS, &o->workers) != 0)
                return -1;
        } else if (strcmp(a, "--threads") == 0) {
            if (wsb_arg_long("wsb-handler", a, v, 1, WSB_MAX_THREADS, &o->threads) != 0)
                return -1;
        } else if (strcmp(a, "--socket-mode") == 0) {
            char *end = NULL;
            errno = 0;
            long m = v ? strtol(v, &end, 8) : -1;
            if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || m < 0 || m > 07777) {
                fprintf(stderr, "wsb-handler: --socket-mode: '%s' is not an octal mode like 0660\n", v ? v : "");
                return -1;
            }
            o->socket_mode = m;
        } else {
            fprintf(stderr, "wsb-handler: unknown argument '%s' (see --help)\n", a);
            return -1;
        }
        i++;   /* the option's value */
    }
    if (o->check && (o->listen || o->workers)) {
        fprintf(stderr, "wsb-handler: --check runs alone, without --listen or --workers\n");
        return -1;
    }
    if (o->explain && (o->check || o->listen || o->workers)) {
        fprintf(stderr, "wsb-handler: --explain runs alone, without --check, --listen or --workers\n");
        return -1;
    }
    if (o->json && o->explain == NULL) {
        fprintf(stderr, "wsb-handler: --json goes with --explain ADDRESS\n");
        return -1;
    }
    if (o->socket_mode >= 0 && o->listen == NULL) {
        fprintf(stderr, "wsb-handler: --socket-mode needs --listen with a unix socket path\n");
        return -1;
    }
    if (o->listen != NULL && o->workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        /* Behind nginx, nginx does most of the work of a request: measured
         * on 2 CPUs, one worker served 37-42k req/s, two 26-34k (README). */
        long half = cpus / 2;
        o->workers = half < 1 ? 1 : half > WSB_MAX_WORKERS ? WSB_MAX_WORKERS : half;
    }
    return 0;
}

