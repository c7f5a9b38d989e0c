/* check.c: a round's checks and load report fetches, run concurrently:
 * the threads, the start order they share, the transfers each keeps in
 * flight (mechanism only; see check.h; one transfer is check_xfer.c). */
#include "check.h"
#include "check_pool.h"
#include "check_xfer.h"
#include "log.h"
#include "parallel.h"
#include "status.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* New transfers started before the loop looks at those in flight again.
 * Starting every free slot at once put all --max-parallel transfers in
 * flight at the round's start, each with its easy handle and connection
 * (about 14 KiB), although a check on a near node ends within a
 * millisecond: a round is paced by the probe's CPU, and its transfers
 * piled up only while it was busy starting more.  In batches, the checks
 * that answer end and give their slot back before others start, and what
 * stays in flight is what must: the slow and hanging ones (about the
 * hanging share of the checks started within one timeout).  Measured at
 * 10,000 stand-ins, 10 % hanging, timeout 1 s: at most 720-1,024 in
 * flight, not always 1,024. */
#define START_BATCH 64

const char *wsb_check_detail(const char *d)
{
    return d != NULL ? d : "";
}

void wsb_check_detail_set(char **slot, const char *text)
{
    free(*slot);
    *slot = NULL;
    if (text == NULL || text[0] == '\0')
        return;
    size_t len = strnlen(text, WSB_DETAIL_LEN - 1);
    if ((*slot = malloc(len + 1)) == NULL) {
        /* The outcome stays; only its words are lost (said once a run). */
        static int told;
        if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
            wsb_log_warn("out of memory keeping a check's detail (\"%.60s\"): such details are left out", text);
        return;
    }
    memcpy(*slot, text, len);
    (*slot)[len] = '\0';
}

void wsb_check_results_clear(struct wsb_check_result *results, size_t n)
{
    for (size_t i = 0; results != NULL && i < n; i++) {
        wsb_check_detail_set(&results[i].detail, NULL);
        wsb_check_detail_set(&results[i].report_detail, NULL);
    }
}

void wsb_check_result_set(struct wsb_check_result *r, int is_report, enum wsb_outcome o, const char *detail)
{
    if (is_report) {
        r->report = o;
        wsb_check_detail_set(&r->report_detail, detail);
    } else {
        r->check = o;
        wsb_check_detail_set(&r->detail, detail);
    }
}

/* What the parts of a round share (atomics): the position in the start
 * order of the next node to check, which the part with a free slot takes,
 * so that the order holds across parts; and the transfers in flight over
 * all parts, which max_parallel bounds as a whole: the hanging checks of a
 * round may sit in one part's slots, and the other parts go on checking
 * the rest (a share of slots a part left one thread checking alone). */
struct share {
    size_t next;
    size_t in_flight;
    size_t max_parallel;
    size_t most;          /* the most in flight at once */
};

/* Where a part is in the round's list of transfers: a node's check, then
 * its report fetch (when it has a status_url), which start together. */
struct cursor {
    const size_t *order;   /* NULL: inventory order */
    struct share *share;
    size_t pos;            /* in that order, of the node whose report is next */
    int report_next;
};

/* Lays out the part's next transfer in x (a free slot); 0 when every node
 * has been taken. */
static int next_xfer(const struct wsb_inventory *inv, struct cursor *c, struct wsb_xfer *x)
{
    if (!c->report_next) {
        size_t pos = __atomic_fetch_add(&c->share->next, 1, __ATOMIC_RELAXED);
        if (pos >= inv->n)
            return 0;
        c->pos = pos;
    }
    size_t i = c->order != NULL ? c->order[c->pos] : c->pos;
    const struct wsb_inv_node *node = &inv->nodes[i];
    memset(x, 0, sizeof *x);
    x->node = i;
    if (c->report_next) {
        x->is_report = 1;
        x->type = WSB_CHECK_HTTP;
        x->keep_body = 1;
        c->report_next = 0;
    } else {
        x->type = node->check.type;
        x->keep_body = x->type == WSB_CHECK_HTTP && node->status_url == NULL;
        c->report_next = node->status_url != NULL;
    }
    return 1;
}

/* Takes one of the round's max_parallel places in flight (1), or none
 * when all are taken (0); keeps the most taken at once. */
static int take_place(struct share *sh)
{
    size_t now = __atomic_load_n(&sh->in_flight, __ATOMIC_RELAXED);
    do {
        if (now >= sh->max_parallel)
            return 0;
    } while (!__atomic_compare_exchange_n(&sh->in_flight, &now, now + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    size_t most = __atomic_load_n(&sh->most, __ATOMIC_RELAXED);
    while (now + 1 > most &&
           !__atomic_compare_exchange_n(&sh->most, &most, now + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    return 1;
}

static void give_places(struct share *sh, size_t n)
{
    __atomic_sub_fetch(&sh->in_flight, n, __ATOMIC_RELAXED);
}

/* Whether a node (or the report fetch of the one c took) is left to start. */
static int work_left(const struct wsb_inventory *inv, const struct cursor *c)
{
    return c->report_next || __atomic_load_n(&c->share->next, __ATOMIC_RELAXED) < inv->n;
}

/* Records the outcome of every finished transfer and frees its slot
 * (pushed on free[]); returns how many finished. */
static size_t collect_done(struct wsb_check_pool *pool, const struct wsb_inventory *inv, struct wsb_xfer *slots,
                           size_t *free_slots, size_t *n_free, struct wsb_check_result *results)
{
    size_t done = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(pool->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct wsb_xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;   /* m is invalid once the handle is removed */
        if (x == NULL)
            continue;
        const struct wsb_inv_node *node = &inv->nodes[x->node];
        wsb_xfer_finish(x, rc, node, node->status_url != NULL, &results[x->node]);
        wsb_xfer_release(pool, x);
        free_slots[(*n_free)++] = (size_t)(x - slots);
        done++;
    }
    return done;
}

/* One part of a round, run by one thread: its own multi handle, epoll set
 * and slots (max_parallel of them, touched only as used), taking the next
 * node of the start order whenever the round has a place in flight free.
 * Parts share nothing but the cursor and the results, each writing the
 * entries of the nodes it took. */
struct part {
    const struct wsb_inventory *inv;
    const struct wsb_check_options *opt;
    const size_t *order;
    struct share *share;
    size_t max_parallel;
    size_t idle_max;              /* easy handles it keeps for reuse */
    struct wsb_check_result *results;
    int status;                   /* what run_part returned */
    char err[WSB_ERRLEN];
};

/* A part's slots: max_parallel of them (about 0.5 MB at 1,024), of which a
 * part uses as many as it has in flight at once, the first ones (the free
 * list is a stack).  Mapped, so that the pages of the slots never used are
 * never touched: calloc zeroes what it takes from the heap's free space. */
static struct wsb_xfer *slots_map(size_t n)
{
    void *p = mmap(NULL, n * sizeof(struct wsb_xfer), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void run_part(void *arg)
{
    struct part *part = arg;
    const struct wsb_inventory *inv = part->inv;
    struct wsb_check_result *results = part->results;
    char *err = part->err;
    int status = WSB_OK;
    struct wsb_xfer *slots = NULL;
    size_t *free_slots = NULL, n_free = 0, n_slots = part->max_parallel > 0 ? part->max_parallel : 1;
    struct wsb_check_pool pool;
    struct cursor cur = { part->order, part->share, 0, 0 };
    memset(&pool, 0, sizeof pool);
    pool.epfd = -1;
    err[0] = '\0';
    if ((slots = slots_map(n_slots)) == NULL || (free_slots = malloc(n_slots * sizeof *free_slots)) == NULL) {
        status = wsb_fail(err, WSB_ENOMEM, "out of memory preparing %zu transfers at once", n_slots);
        goto cleanup;
    }
    for (size_t k = n_slots; k > 0; k--)
        free_slots[n_free++] = k - 1;
    if ((status = wsb_check_pool_open(&pool, part->idle_max, err)) != WSB_OK)
        goto cleanup;
    size_t active = 0;
    for (;;) {
        /* At most START_BATCH new transfers between two looks at the ones
         * in flight (see START_BATCH). */
        size_t started = 0;
        int more = 0, waiting = 0;   /* waiting: work is left, but no place in flight */
        while (n_free > 0) {
            if (started == START_BATCH) {
                more = 1;
                break;
            }
            if (!take_place(part->share)) {
                waiting = work_left(inv, &cur);
                break;
            }
            struct wsb_xfer *x = &slots[free_slots[n_free - 1]];
            if (!next_xfer(inv, &cur, x)) {
                give_places(part->share, 1);
                break;
            }
            started++;
            if (wsb_xfer_start(&pool, x, &inv->nodes[x->node], part->opt, &results[x->node]) == WSB_OK) {
                n_free--;
                active++;
            } else {
                give_places(part->share, 1);
            }
        }
        if (active == 0 && !more && !waiting)
            break;
        /* Waiting on the other parts' transfers: a look every millisecond. */
        if ((status = wsb_check_pool_run(&pool, more ? 0 : waiting ? 1 : 1000, err)) != WSB_OK)
            goto cleanup;
        size_t done = collect_done(&pool, inv, slots, free_slots, &n_free, results);
        active -= done;
        give_places(part->share, done);
    }
cleanup:
    if (status != WSB_OK) {
        /* The transfers in flight, and the report fetch of the node it took
         * last; the nodes no part took are told after the round
         * (wsb_check_all). */
        enum wsb_outcome o = status == WSB_ENOMEM ? WSB_OUT_PROBE_NO_MEMORY : WSB_OUT_PROBE_ERROR;
        for (size_t k = 0; slots != NULL && k < n_slots; k++)
            if (slots[k].easy != NULL)
                wsb_check_result_set(&results[slots[k].node], slots[k].is_report, o, "the check machinery failed");
        if (cur.report_next)
            wsb_check_result_set(&results[cur.order != NULL ? cur.order[cur.pos] : cur.pos], 1, o, "the check machinery failed");
    }
    for (size_t k = 0; slots != NULL && k < n_slots; k++) {
        int held = slots[k].easy != NULL;
        wsb_xfer_release(&pool, &slots[k]);
        if (held)
            give_places(part->share, 1);
    }
    if (slots != NULL)
        munmap(slots, n_slots * sizeof *slots);
    free(free_slots);
    wsb_check_pool_close(&pool);
    part->status = status;
}

int wsb_check_all(const struct wsb_inventory *inv, const struct wsb_check_options *opt, const size_t *order,
                  struct wsb_check_result *results, char *err)
{
    size_t total = 0;
    for (size_t i = 0; i < inv->n; i++) {
        struct wsb_check_result *r = &results[i];
        memset(r, 0, sizeof *r);
        r->check = WSB_OUT_PROBE_ERROR;
        r->report = WSB_OUT_NO_REPORT;
        r->load.connections = r->load.capacity = -1;
        total += 1 + (inv->nodes[i].status_url != NULL);
    }
    if (total == 0)
        return WSB_OK;
    size_t max_parallel = opt->max_parallel > 0 ? opt->max_parallel : 1;
    if (max_parallel > total)
        max_parallel = total;
    /* A part per thread asked for, but never more than transfers in
     * flight at once: a part has at least one slot. */
    size_t n_parts = opt->threads > 0 ? opt->threads : 1;
    if (n_parts > WSB_CHECK_THREADS_MAX)
        n_parts = WSB_CHECK_THREADS_MAX;
    if (n_parts > max_parallel)
        n_parts = max_parallel;
    struct share share = { .max_parallel = max_parallel };
    struct part parts[WSB_CHECK_THREADS_MAX];
    for (size_t k = 0; k < n_parts; k++)
        parts[k] = (struct part){ .inv = inv, .opt = opt, .order = order, .share = &share,
                                  .max_parallel = max_parallel, .idle_max = max_parallel / n_parts + 1,
                                  .results = results };
    wsb_parallel_run(run_part, parts, sizeof parts[0], n_parts);
    int status = WSB_OK;
    for (size_t k = 0; k < n_parts; k++)
        if (status == WSB_OK && parts[k].status != WSB_OK) {
            status = parts[k].status;
            memcpy(err, parts[k].err, WSB_ERRLEN);
        }
    if (status != WSB_OK) {
        /* Every part failed before all the nodes were taken (a part that
         * runs on takes the rest): those nodes say why. */
        enum wsb_outcome o = status == WSB_ENOMEM ? WSB_OUT_PROBE_NO_MEMORY : WSB_OUT_PROBE_ERROR;
        for (size_t pos = share.next < inv->n ? share.next : inv->n; pos < inv->n; pos++) {
            size_t i = order != NULL ? order[pos] : pos;
            wsb_check_result_set(&results[i], 0, o, "the check machinery failed");
            if (inv->nodes[i].status_url != NULL)
                wsb_check_result_set(&results[i], 1, o, "the check machinery failed");
        }
    }
    wsb_log_debug("checks: %zu transfers on %zu thread%s, at most %zu in flight (--max-parallel %zu)", total, n_parts,
                  n_parts == 1 ? "" : "s", share.most, max_parallel);
    return status;
}
