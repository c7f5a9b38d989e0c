/* test_regress.c: replays every fuzz seed (tests/fuzz/corpus/<target>/)
 * and every input that once crashed a target (tests/fuzz/regress/<target>/)
 * through the same target functions libFuzzer runs, so that `make test`
 * (gcc, no libFuzzer) keeps each fixed crash fixed.  Run from the top of
 * the tree, as tests/run.sh does; WSB_FUZZ_DIR overrides tests/fuzz. */
#include "../fuzz/targets.c"

#include "log.h"
#include "t.h"

#include <dirent.h>
#include <sys/stat.h>

static const char *fuzz_dir(void)
{
    const char *d = getenv("WSB_FUZZ_DIR");
    return d != NULL && *d ? d : "tests/fuzz";
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        unsigned char *b = realloc(buf, cap *= 2);
        if (b == NULL) {
            free(buf);
            buf = NULL;
        } else {
            buf = b;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays the files of dir through t; returns how many were replayed. */
static size_t replay_dir(const struct wsb_fuzz_target *t, const char *kind)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s/%s", fuzz_dir(), kind, t->name);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return 0;
    size_t replayed = 0;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len = 0;
            unsigned char *data = read_all(path, &len);
            CHECK(data != NULL, "cannot read %s", path);
            if (data != NULL) {
                const char *bad = t->fn(data, len);
                CHECK(bad == NULL, "%s: %s", path, bad);
                replayed++;
            }
            free(data);
        }
        free(names[i]);
    }
    free(names);
    return replayed;
}

static void test_replay(void)
{
    for (const struct wsb_fuzz_target *t = wsb_fuzz_targets; t->name != NULL; t++) {
        size_t seeds = replay_dir(t, "corpus");
        size_t kept = replay_dir(t, "regress");
        CHECK(seeds >= 3, "target %s: only %zu seed files in %s/corpus/%s", t->name, seeds, fuzz_dir(), t->name);
        printf("  %-10s %3zu seeds, %3zu regression inputs\n", t->name, seeds, kept);
    }
}

int main(void)
{
    wsb_log_init("test_regress", WSB_LOG_ERROR);
    T_RUN(test_replay);
    return t_done("test_regress");
}
