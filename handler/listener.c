/* listener.c: the listening socket of --listen: a unix socket path, or
 * HOST:PORT. */
#include "listener.h"
#include "config.h"
#include "hostport.h"
#include "status.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_unix(const char *path, long mode, struct wsb_listener *l, char *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: a unix socket path has at most %zu bytes", path,
                        sizeof sa.sun_path - 1);
    strcpy(sa.sun_path, path);
    int fd = -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return wsb_fail(err, WSB_EINVAL, "--listen %s: exists and is not a socket", path);
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live)
            return wsb_fail(err, WSB_EBUSY, "--listen %s: another process is serving this socket", path);
        if (unlink(path) != 0)
            return wsb_fail(err, WSB_ESYS, "--listen %s: cannot remove the stale socket: %s", path,
                            strerror(errno));
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wsb_fail(err, WSB_ESYS, "--listen %s: socket: %s", path, strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        wsb_fail(err, WSB_ESYS, "--listen %s: bind: %s", path, strerror(errno));
        goto cleanup;
    }
    snprintf(l->path, sizeof l->path, "%s", path);
    if (mode >= 0 && chmod(path, (mode_t)mode) != 0) {
        wsb_fail(err, WSB_ESYS, "--socket-mode %04lo: chmod %s: %s", mode, path, strerror(errno));
        goto cleanup;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        wsb_fail(err, WSB_ESYS, "--listen %s: listen: %s", path, strerror(errno));
        goto cleanup;
    }
    l->fd = fd;
    l->tcp = 0;
    return WSB_OK;
cleanup:
    if (l->path[0] != '\0')
        unlink(l->path);
    l->path[0] = '\0';
    close(fd);
    return WSB_ESYS;
}

/* Opens HOST:PORT, [V6]:PORT or :PORT (127.0.0.1). */
static int listen_tcp(const char *addr, struct wsb_listener *l, char *err)
{
    char host[256], port[8], why[WSB_ERRLEN];
    struct wsb_hostport hp;
    if (strchr(addr, ':') == NULL)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: neither a socket path (with a '/') nor HOST:PORT", addr);
    const char *port_text = strrchr(addr, ':') + 1;
    long port_number;
    if (wsb_parse_long(port_text, 1, 65535, &port_number) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: '%s' is not a port in 1..65535", addr, port_text);
    if (wsb_hostport_split(addr, strlen(addr), &hp, why) != WSB_OK)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: %s", addr, why);
    if (hp.host_len >= sizeof host)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: host name too long", addr);
    snprintf(host, sizeof host, "%.*s", (int)hp.host_len, hp.host);
    if (host[0] == '\0')
        strcpy(host, "127.0.0.1");
    snprintf(port, sizeof port, "%ld", hp.port);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return wsb_fail(err, WSB_EINVAL, "--listen %s: %s", addr, gai_strerror(gai));
    int fd = -1, status = WSB_OK;
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        status = wsb_fail(err, WSB_ESYS, "--listen %s: socket: %s", addr, strerror(errno));
        goto cleanup;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        status = wsb_fail(err, WSB_ESYS, "--listen %s: bind: %s", addr, strerror(errno));
        goto cleanup;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        status = wsb_fail(err, WSB_ESYS, "--listen %s: listen: %s", addr, strerror(errno));
        goto cleanup;
    }
    l->fd = fd;
    l->tcp = 1;
    fd = -1;
cleanup:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return status;
}

/* Returns WSB_OK with l filled, or a status with the reason in err and
 * nothing left open or created. */
int wsb_listener_open(const char *addr, long mode, struct wsb_listener *l, char *err)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    if (strncmp(addr, "unix:", 5) == 0)
        addr += 5;
    if (strchr(addr, '/') != NULL)
        return listen_unix(addr, mode, l, err);
    if (mode >= 0)
        return wsb_fail(err, WSB_EINVAL, "--socket-mode applies to a unix socket, not to %s", addr);
    return listen_tcp(addr, l, err);
}

int wsb_socket_is_tcp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
           (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

void wsb_listener_close(struct wsb_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->path[0] != '\0')
        unlink(l->path);
    l->fd = -1;
    l->path[0] = '\0';
}

