/* truncate_mmap.c: an LD_PRELOAD shim for tests that truncates the file
 * named by WSB_TRUNCATE_ON_MMAP to 0 bytes right after a mapping of it is
 * made, so that the first read of the mapping raises SIGBUS: a GeoIP
 * database truncated while MMDB_open reads its metadata.  Built by the
 * Makefile as $(BUILD)/tests/preload/truncate_mmap.so, never linked into a
 * program. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

/* Whether fd is the file at (canonical) path target. */
static int fd_is(int fd, const char *target)
{
    char link[64], path[PATH_MAX], want[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0 || realpath(target, want) == NULL)
        return 0;
    path[n] = '\0';
    return strcmp(path, want) == 0;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    static mmap_fn real;
    if (real == NULL) {
        void *sym = dlsym(RTLD_NEXT, "mmap");
        memcpy(&real, &sym, sizeof real);   /* object to function pointer, as POSIX allows */
    }
    void *p = real(addr, len, prot, flags, fd, off);
    const char *target = getenv("WSB_TRUNCATE_ON_MMAP");
    if (p != MAP_FAILED && fd >= 0 && target != NULL && fd_is(fd, target) && truncate(target, 0) == 0)
        fprintf(stderr, "truncate_mmap: %s truncated after mmap\n", target);
    return p;
}
