/* t.h: a tiny unit-test harness.  Each test binary calls T_RUN for its
 * test functions and ends with t_done(), which prints "N passed, N failed"
 * and appends the counts to $T_RESULTS when set (tests/run.sh adds them up). */
#ifndef WSB_T_H
#define WSB_T_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed;
static const char *t_current = "";

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (cond) {                                                                   \
            t_passed++;                                                               \
        } else {                                                                      \
            t_failed++;                                                               \
            fprintf(stderr, "FAIL %s (%s:%d): %s: ", t_current, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

#define CHECK_STR(a, b)                                                               \
    do {                                                                              \
        const char *t_a = (a), *t_b = (b);                                            \
        CHECK(t_a != NULL && t_b != NULL && strcmp(t_a, t_b) == 0, "got '%s', want '%s'", \
              t_a ? t_a : "(null)", t_b ? t_b : "(null)");                            \
    } while (0)

#define CHECK_INT(a, b)                                                               \
    do {                                                                              \
        long long t_a = (long long)(a), t_b = (long long)(b);                         \
        CHECK(t_a == t_b, "got %lld, want %lld", t_a, t_b);                           \
    } while (0)

#define T_RUN(fn)          \
    do {                   \
        t_current = #fn;   \
        fn();              \
    } while (0)

static inline int t_done(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, t_passed, t_failed);
    const char *res = getenv("T_RESULTS");
    if (res != NULL) {
        FILE *f = fopen(res, "a");
        if (f != NULL) {
            fprintf(f, "%s %d %d\n", suite, t_passed, t_failed);
            fclose(f);
        }
    }
    return t_failed == 0 ? 0 : 1;
}

#endif
