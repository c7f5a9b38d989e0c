/* geo.c: GeoIP lookups with reopen-on-change and SIGBUS containment. */
#define _GNU_SOURCE
#include "geo.h"
#include "log.h"
#include "status.h"

#include <errno.h>
#include <stdint.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct geo_db {
    int refs;
    uint64_t generation;         /* unique per open, keys the record cache */
    MMDB_s mmdb;
};

static uint64_t next_generation = 1;

/* Many addresses share one database record (a city); decoding a record's
 * four values costs far more than finding it.  Each thread keeps the
 * decoded values of recently seen records, keyed by the database's
 * generation and the record's offset: exact, never stale. */
#define RECORD_CACHE 1024
struct record_cache_entry {
    uint64_t generation;
    uint32_t offset;
    int found;
    struct wsb_client_loc loc;
};
static __thread struct record_cache_entry record_cache[RECORD_CACHE];

struct wsb_geo {
    pthread_mutex_t lock;
    char *path;
    long check_ms;
    long long next_check_ms;
    struct geo_db *db;           /* NULL when none is open */
    struct stat seen;            /* the file as it was when last looked at */
    int seen_valid;
    int status;
    char reason[WSB_ERRLEN];
    int broken;                  /* a lookup hit SIGBUS: reopen at next check */
};

/* SIGBUS containment: a lookup runs with a per-thread jump buffer armed. */
static __thread sigjmp_buf *bus_jump;
static struct sigaction old_bus;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
    if (bus_jump != NULL)
        siglongjmp(*bus_jump, 1);
    /* Not ours: behave as before we were installed. */
    if (old_bus.sa_flags & SA_SIGINFO && old_bus.sa_sigaction != NULL)
        old_bus.sa_sigaction(sig, info, uctx);
    else if (old_bus.sa_handler != SIG_IGN && old_bus.sa_handler != SIG_DFL && old_bus.sa_handler != NULL)
        old_bus.sa_handler(sig);
    else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

static void install_bus_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_bus);
}

static void db_unref(struct geo_db *db)
{
    if (db != NULL && __atomic_sub_fetch(&db->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        MMDB_close(&db->mmdb);
        free(db);
    }
}

/* MMDB_open with SIGBUS contained: it reads the mapped file's metadata,
 * and a file truncated meanwhile faults there.  Returns MMDB_open's
 * status; on a fault, MMDB_IO_ERROR with *bus set and the mapping and
 * whatever MMDB_open had allocated released (its fields are kept
 * consistent for MMDB_close as they fill; mmdb must start zeroed). */
static int open_contained(const char *path, MMDB_s *mmdb, int *bus)
{
    sigjmp_buf jb;
    volatile int rc = MMDB_IO_ERROR;
    *bus = 0;
    if (sigsetjmp(jb, 0) == 0) {
        bus_jump = &jb;
        rc = MMDB_open(path, MMDB_MODE_MMAP, mmdb);
        bus_jump = NULL;
    } else {
        bus_jump = NULL;
        *bus = 1;
        MMDB_close(mmdb);
    }
    return rc;
}

/* Opens the file; on success replaces the current database.  Called with
 * the lock held. */
static void geo_open_locked(struct wsb_geo *g)
{
    struct stat st;
    g->seen_valid = stat(g->path, &st) == 0;
    if (g->seen_valid)
        g->seen = st;
    struct geo_db *db = calloc(1, sizeof *db);
    if (db == NULL) {
        g->status = wsb_fail(g->reason, WSB_ENOMEM, "out of memory");
        return;
    }
    int bus = 0;
    int rc = open_contained(g->path, &db->mmdb, &bus);
    if (rc != MMDB_SUCCESS) {
        if (bus)
            g->status = wsb_fail(g->reason, WSB_EGEOIP, "%s: file changed while being opened (SIGBUS)", g->path);
        else if (rc == MMDB_IO_ERROR)
            g->status = wsb_fail(g->reason, WSB_EGEOIP, "%s: %s (%s)", g->path, MMDB_strerror(rc),
                                 strerror(errno));
        else
            g->status = wsb_fail(g->reason, WSB_EGEOIP, "%s: %s", g->path, MMDB_strerror(rc));
        free(db);
        /* Keep serving from a database we already had only if its file is
         * still the same one; a changed file means the old one is gone. */
        db_unref(g->db);
        g->db = NULL;
        return;
    }
    db->refs = 1;
    db->generation = __atomic_add_fetch(&next_generation, 1, __ATOMIC_RELAXED);
    db_unref(g->db);
    g->db = db;
    g->broken = 0;
    g->status = WSB_OK;
    g->reason[0] = '\0';
}

struct wsb_geo *wsb_geo_new(const char *path, long check_interval_ms)
{
    pthread_once(&bus_once, install_bus_handler);
    struct wsb_geo *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->path = strdup(path);
    if (g->path == NULL) {
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->lock, NULL);
    g->check_ms = check_interval_ms;
    geo_open_locked(g);
    return g;
}

void wsb_geo_free(struct wsb_geo *g)
{
    if (g == NULL)
        return;
    db_unref(g->db);
    pthread_mutex_destroy(&g->lock);
    free(g->path);
    free(g);
}

int wsb_geo_status(struct wsb_geo *g, char *err)
{
    pthread_mutex_lock(&g->lock);
    int status = g->status;
    if (err != NULL)
        snprintf(err, WSB_ERRLEN, "%s", g->reason);
    pthread_mutex_unlock(&g->lock);
    return status;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int wsb_geo_maybe_reload(struct wsb_geo *g, long long now_ms)
{
    int changed = 0;
    pthread_mutex_lock(&g->lock);
    if (now_ms >= g->next_check_ms || g->broken) {
        g->next_check_ms = now_ms + g->check_ms;
        struct stat st;
        int exists = stat(g->path, &st) == 0;
        if (g->broken || exists != g->seen_valid || (exists && !same_file(&st, &g->seen))) {
            int had = g->db != NULL;
            geo_open_locked(g);
            changed = had || g->db != NULL;
            if (!exists && !had)
                changed = 0;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return changed;
}

static int get_double(MMDB_lookup_result_s *res, double *out, const char *a, const char *b)
{
    MMDB_entry_data_s d;
    if (MMDB_get_value(&res->entry, &d, a, b, NULL) != MMDB_SUCCESS || !d.has_data ||
        d.type != MMDB_DATA_TYPE_DOUBLE)
        return 0;
    *out = d.double_value;
    return 1;
}

static int get_code(MMDB_lookup_result_s *res, char out[3], const char *a, const char *b)
{
    MMDB_entry_data_s d;
    if (MMDB_get_value(&res->entry, &d, a, b, NULL) != MMDB_SUCCESS || !d.has_data ||
        d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
        return 0;
    out[0] = (char)(d.utf8_string[0] & ~0x20);
    out[1] = (char)(d.utf8_string[1] & ~0x20);
    out[2] = '\0';
    return 1;
}

int wsb_geo_lookup(struct wsb_geo *g, const struct wsb_ip *ip, struct wsb_client_loc *loc)
{
    memset(loc, 0, sizeof *loc);
    if (g == NULL || wsb_ip_is_local(ip))
        return 0;
    pthread_mutex_lock(&g->lock);
    struct geo_db *db = g->broken ? NULL : g->db;
    if (db != NULL)
        __atomic_add_fetch(&db->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g->lock);
    if (db == NULL)
        return 0;

    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    const struct sockaddr *sa;
    if (ip->is_v4) {
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        memcpy(&sin.sin_addr, ip->b + 12, 4);
        sa = (const struct sockaddr *)&sin;
    } else {
        memset(&sin6, 0, sizeof sin6);
        sin6.sin6_family = AF_INET6;
        memcpy(&sin6.sin6_addr, ip->b, 16);
        sa = (const struct sockaddr *)&sin6;
    }

    int found = 0;
    sigjmp_buf jb;
    /* No mask saved (0): that would cost a system call per lookup.  The
     * handler runs with SA_NODEFER, so SIGBUS is not blocked after the jump. */
    if (sigsetjmp(jb, 0) == 0) {
        bus_jump = &jb;
        int mmdb_error = MMDB_SUCCESS;
        MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&db->mmdb, sa, &mmdb_error);
        struct record_cache_entry *ce = NULL;
        if (mmdb_error == MMDB_SUCCESS && res.found_entry) {
            ce = &record_cache[(res.entry.offset * 2654435761u) % RECORD_CACHE];
            if (ce->generation == db->generation && ce->offset == res.entry.offset) {
                *loc = ce->loc;
                found = ce->found;
                ce = NULL;
                res.found_entry = 0;   /* answered from the cache */
            }
        }
        if (mmdb_error == MMDB_SUCCESS && res.found_entry) {
            double lat, lon;
            if (get_double(&res, &lat, "location", "latitude") &&
                get_double(&res, &lon, "location", "longitude") && lat >= -90 && lat <= 90 &&
                lon >= -180 && lon <= 180) {
                loc->has_coords = 1;
                loc->lat = lat;
                loc->lon = lon;
            }
            get_code(&res, loc->country, "country", "iso_code");
            get_code(&res, loc->continent, "continent", "code");
            found = loc->has_coords || loc->country[0] || loc->continent[0];
            ce->generation = db->generation;
            ce->offset = res.entry.offset;
            ce->found = found;
            ce->loc = *loc;
        }
        bus_jump = NULL;
    } else {
        /* The mapped file shrank under us: forget this database. */
        bus_jump = NULL;
        memset(loc, 0, sizeof *loc);
        found = 0;
        pthread_mutex_lock(&g->lock);
        if (g->db == db && !g->broken) {
            g->broken = 1;
            g->status = wsb_fail(g->reason, WSB_EGEOIP, "%s: file changed while mapped (SIGBUS); closed",
                                 g->path);
        }
        pthread_mutex_unlock(&g->lock);
    }
    db_unref(db);
    return found;
}
