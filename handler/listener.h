/* listener.h: the socket of --listen, opened and removed again. */
#ifndef WSB_LISTENER_H
#define WSB_LISTENER_H

#include <sys/socket.h>
#include <sys/un.h>

struct wsb_listener {
    int fd;
    int tcp;                  /* accepted connections get TCP_NODELAY */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* unix socket to remove at close */
};

/* Opens addr: a unix socket path ("unix:" prefix allowed; mode >= 0 sets
 * its permissions; a stale socket file nobody answers on is replaced, a
 * live one or any other file is an error), or HOST:PORT, [V6]:PORT or
 * :PORT (= 127.0.0.1:PORT).  Returns WSB_OK with l filled, or a status
 * with the reason in err and nothing left open or created. */
int wsb_listener_open(const char *addr, long mode, struct wsb_listener *l, char *err);

/* Closes the socket and removes a unix socket's file. */
void wsb_listener_close(struct wsb_listener *l);

/* Whether fd is a TCP socket (IPv4 or IPv6). */
int wsb_socket_is_tcp(int fd);

#endif
