/* test_geo.c: GeoIP lookups on MaxMind's real test databases, broken
 * databases, a replaced file and a file truncated under the mapping. */
#include "geo.h"
#include "netaddr.h"
#include "status.h"
#include "t.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[1024];

static const char *db(const char *name)
{
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static int look(struct wsb_geo *g, const char *addr, struct wsb_client_loc *loc)
{
    struct wsb_ip ip;
    if (wsb_ip_parse(addr, strlen(addr), &ip) != WSB_OK)
        return -1;
    return wsb_geo_lookup(g, &ip, loc);
}

static void test_city(void)
{
    struct wsb_geo *g = wsb_geo_new(db("GeoLite2-City-Test.mmdb"), 1000);
    char err[WSB_ERRLEN];
    CHECK(wsb_geo_status(g, err) == WSB_OK, "%s", err);
    struct wsb_client_loc loc;
    CHECK(look(g, "81.2.69.142", &loc) == 1, "London found");
    CHECK(loc.has_coords && fabs(loc.lat - 51.5142) < 0.01 && fabs(loc.lon + 0.0931) < 0.01, "London %f %f", loc.lat,
          loc.lon);
    CHECK_STR(loc.country, "GB");
    CHECK_STR(loc.continent, "EU");
    CHECK(look(g, "2001:218::1", &loc) == 1, "Japan found");
    CHECK(loc.has_coords && fabs(loc.lat - 35.68536) < 0.01 && fabs(loc.lon - 139.75309) < 0.01, "Tokyo");
    CHECK_STR(loc.country, "JP");
    CHECK(look(g, "::ffff:81.2.69.142", &loc) == 1 && !strcmp(loc.country, "GB"), "mapped v4");
    CHECK(look(g, "127.0.0.1", &loc) == 0 && !loc.has_coords, "loopback has no location");
    CHECK(look(g, "10.1.2.3", &loc) == 0, "private");
    CHECK(look(g, "8.8.8.8", &loc) == 0, "not in the test data");
    wsb_geo_free(g);
}

static void test_country_db(void)
{
    struct wsb_geo *g = wsb_geo_new(db("GeoLite2-Country-Test.mmdb"), 1000);
    struct wsb_client_loc loc;
    CHECK(look(g, "81.2.69.142", &loc) == 1, "found");
    CHECK(!loc.has_coords, "a Country database has no coordinates");
    CHECK_STR(loc.country, "GB");
    CHECK_STR(loc.continent, "EU");
    wsb_geo_free(g);
}

static void test_broken(void)
{
    static const char *broken[] = { "GeoIP2-City-Test-Broken-Double-Format.mmdb",
                                    "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
                                    "MaxMind-DB-test-broken-pointers-24.mmdb", "does-not-exist.mmdb",
                                    "GeoLite2-City-Test.json" };
    static const char *addrs[] = { "81.2.69.142", "2001:218::1", "1.1.1.1", "216.160.83.56", "::1.2.3.4",
                                   "2a02:d300::1", "89.160.20.112" };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        struct wsb_geo *g = wsb_geo_new(db(broken[i]), 1000);
        CHECK(g != NULL, "holder");
        char err[WSB_ERRLEN] = "";
        int st = wsb_geo_status(g, err);
        /* Either it refuses to open with a reason, or lookups fail gracefully. */
        if (st != WSB_OK)
            CHECK(strstr(err, broken[i]) != NULL, "reason names the file: %s", err);
        for (size_t j = 0; j < sizeof addrs / sizeof addrs[0]; j++) {
            struct wsb_client_loc loc;
            int r = look(g, addrs[j], &loc);
            CHECK(r == 0 || r == 1, "lookup of %s in %s", addrs[j], broken[i]);
        }
        wsb_geo_free(g);
    }
}

static int copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[8192];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok;
}

static void test_replace_and_truncate(void)
{
    char tmpdir[] = "/tmp/wsb-geo-XXXXXX";
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    char live[1100], next[1100];
    snprintf(live, sizeof live, "%s/city.mmdb", tmpdir);
    snprintf(next, sizeof next, "%s/next.mmdb", tmpdir);
    CHECK(copy(db("GeoLite2-City-Test.mmdb"), live), "copy");
    struct wsb_geo *g = wsb_geo_new(live, 100);
    struct wsb_client_loc loc;
    CHECK(look(g, "81.2.69.142", &loc) == 1 && loc.has_coords, "city first");

    /* Replaced by rename (how geoipupdate does it): the Country data shows. */
    CHECK(copy(db("GeoLite2-Country-Test.mmdb"), next) && rename(next, live) == 0, "replace");
    CHECK(wsb_geo_maybe_reload(g, 1000000) == 1, "noticed");
    CHECK(look(g, "81.2.69.142", &loc) == 1 && !loc.has_coords && !strcmp(loc.country, "GB"), "country now");

    /* Replaced by garbage: no geography, no crash, a reason. */
    FILE *f = fopen(next, "wb");
    fputs("this is not a database", f);
    fclose(f);
    CHECK(rename(next, live) == 0, "garbage in");
    wsb_geo_maybe_reload(g, 2000000);
    char err[WSB_ERRLEN];
    CHECK(wsb_geo_status(g, err) != WSB_OK, "garbage refused");
    CHECK(look(g, "81.2.69.142", &loc) == 0, "no location while broken");

    /* A good file returns: geography resumes. */
    CHECK(copy(db("GeoLite2-City-Test.mmdb"), next) && rename(next, live) == 0, "good again");
    wsb_geo_maybe_reload(g, 3000000);
    CHECK(look(g, "2001:218::1", &loc) == 1 && loc.has_coords, "resumed");

    /* Truncated in place under the mapping: SIGBUS is contained. */
    CHECK(truncate(live, 0) == 0, "truncate");
    int r1 = look(g, "81.2.69.142", &loc), r2 = look(g, "2001:218::1", &loc);
    CHECK(r1 == 0 && r2 == 0, "no location from a truncated file (%d %d)", r1, r2);
    CHECK(wsb_geo_status(g, err) != WSB_OK, "reported: %s", err);
    CHECK(copy(db("GeoLite2-City-Test.mmdb"), next) && rename(next, live) == 0, "good again");
    wsb_geo_maybe_reload(g, 4000000);
    CHECK(look(g, "81.2.69.142", &loc) == 1, "resumed after truncation");
    wsb_geo_free(g);
    unlink(live);
    rmdir(tmpdir);
}

/* Child side of test_open_truncated: opens path (the shim truncates it
 * under MMDB_open's mapping) and exits 0 when the database is reported
 * unusable with the reason, 3 when it opened. */
static int open_truncating(const char *path)
{
    struct wsb_geo *g = wsb_geo_new(path, 1000);
    char err[WSB_ERRLEN];
    struct wsb_client_loc loc;
    int status = g != NULL ? wsb_geo_status(g, err) : WSB_ENOMEM;
    int found = g != NULL ? look(g, "81.2.69.142", &loc) : -1;
    fprintf(stderr, "  open of a file truncated under MMDB_open: %s\n", status == WSB_OK ? "opened" : err);
    wsb_geo_free(g);
    return status == WSB_EGEOIP && found == 0 && strstr(err, "SIGBUS") != NULL ? 0 : 3;
}

/* A database truncated while MMDB_open reads its metadata (a real fault:
 * tests/tools/preload/truncate_mmap.so truncates the file right after
 * MMDB_open maps it): the process survives and reports the database as
 * unusable. */
static void test_open_truncated(void)
{
    char self[PATH_MAX], dir_of_self[PATH_MAX], shim[PATH_MAX + 64], tmpdir[] = "/tmp/wsb-geo-XXXXXX", path[1100];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "own path");
    self[n > 0 ? n : 0] = '\0';
    memcpy(dir_of_self, self, sizeof self);
    snprintf(shim, sizeof shim, "%s/preload/truncate_mmap.so", dirname(dir_of_self));
    if (access(shim, R_OK) != 0) {
        CHECK(0, "%s not built (make unit-bins)", shim);
        return;
    }
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/city.mmdb", tmpdir);
    CHECK(copy(db("GeoLite2-City-Test.mmdb"), path), "copy");
    pid_t pid = fork();
    if (pid == 0) {
        const char *asan = getenv("ASAN_OPTIONS");
        char asan_opts[1024];
        /* The shim comes before the sanitizer runtime in the library list. */
        snprintf(asan_opts, sizeof asan_opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
        setenv("ASAN_OPTIONS", asan_opts, 1);
        setenv("LD_PRELOAD", shim, 1);
        setenv("WSB_TRUNCATE_ON_MMAP", path, 1);
        execl(self, self, "--open-truncating", path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "fork");
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 0, "the shim truncated the file under the mapping");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the process survives and reports the database unusable (%s %d)",
          WIFSIGNALED(st) ? "killed by signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    unlink(path);
    rmdir(tmpdir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--open-truncating") == 0)
        return open_truncating(argv[2]);
    const char *d = getenv("WSB_GEOIP_DIR");
    snprintf(dir, sizeof dir, "%s", d ? d : "../shared/geoip");
    if (access(db("GeoLite2-City-Test.mmdb"), R_OK) != 0) {
        fprintf(stderr, "test_geo: %s not found (set WSB_GEOIP_DIR)\n", db("GeoLite2-City-Test.mmdb"));
        t_failed++;
        return t_done("geo");
    }
    T_RUN(test_city);
    T_RUN(test_country_db);
    T_RUN(test_broken);
    T_RUN(test_replace_and_truncate);
    T_RUN(test_open_truncated);
    return t_done("geo");
}
