/* test_probe_parallel.c: running a round's parts at once
 * (probe/parallel.h): every job runs once, the jobs run at the same time
 * (each waits until all have begun, which one thread could not do), job 0
 * on the calling thread; and where no thread can be created, every job
 * still runs, on the calling thread. */
#include "parallel.h"
#include "t.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define JOBS 4

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static int arrived;

struct job {
    int runs;
    int saw_all;           /* every job had begun while this one ran */
    pthread_t thread;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void meet(void *p)
{
    struct job *j = p;
    j->runs++;
    j->thread = pthread_self();
    __atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
    long long until = now_ms() + 5000;
    while (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) < JOBS && now_ms() < until)
        usleep(1000);
    j->saw_all = __atomic_load_n(&arrived, __ATOMIC_SEQ_CST) >= JOBS;
}

static void count(void *p)
{
    struct job *j = p;
    j->runs++;
    j->thread = pthread_self();
}

static void test_at_once(void)
{
    struct job jobs[JOBS];
    memset(jobs, 0, sizeof jobs);
    arrived = 0;
    wsb_parallel_run(meet, jobs, sizeof jobs[0], JOBS);
    for (int k = 0; k < JOBS; k++) {
        CHECK(jobs[k].runs == 1, "job %d ran %d times", k, jobs[k].runs);
        CHECK(jobs[k].saw_all, "job %d ran while the others did (at once)", k);
        for (int m = 0; m < k; m++)
            CHECK(!pthread_equal(jobs[k].thread, jobs[m].thread), "jobs %d and %d on threads of their own", m, k);
    }
    CHECK(pthread_equal(jobs[0].thread, pthread_self()), "job 0 on the calling thread");
}

static void test_one_and_none(void)
{
    struct job one;
    memset(&one, 0, sizeof one);
    wsb_parallel_run(count, &one, sizeof one, 1);
    CHECK(one.runs == 1 && pthread_equal(one.thread, pthread_self()), "one job: run once, on the caller");
    wsb_parallel_run(count, &one, sizeof one, 0);
    CHECK(one.runs == 1, "no jobs: nothing runs");
}

/* With the address space capped at what the process maps now, no thread's
 * stack can be mapped: every job runs all the same, on the calling thread.
 * In a child (the cap is for good); not under a sanitizer or valgrind,
 * which map memory of their own. */
static void test_no_threads(void)
{
#ifdef UNDER_ASAN
    fprintf(stderr, "  (test_no_threads skipped: AddressSanitizer maps its shadow memory)\n");
    return;
#else
    if (getenv("WSB_VALGRIND") != NULL) {
        fprintf(stderr, "  (test_no_threads skipped under valgrind)\n");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        long vm_kb = 0;
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f != NULL && fgets(line, sizeof line, f) != NULL)
            if (sscanf(line, "VmSize: %ld kB", &vm_kb) == 1)
                break;
        if (f != NULL)
            fclose(f);
        struct rlimit rl = { (rlim_t)(vm_kb + 256) * 1024, (rlim_t)(vm_kb + 256) * 1024 };
        if (vm_kb == 0 || setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(3);
        struct job jobs[JOBS];
        memset(jobs, 0, sizeof jobs);
        wsb_parallel_run(count, jobs, sizeof jobs[0], JOBS);
        int ok = 1;
        for (int k = 0; k < JOBS; k++)
            ok &= jobs[k].runs == 1 && pthread_equal(jobs[k].thread, pthread_self());
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "the child ran");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "no thread can start: every job ran once on the caller (child status %d)", st);
#endif
}

int main(void)
{
    test_no_threads();   /* first: glibc keeps the stacks of ended threads for new ones */
    test_at_once();
    test_one_and_none();
    return t_done("test_probe_parallel");
}
