/* wsb_statectl.c: writes node state into Redis through the common/ state
 * writer, for tests and benches that need a given state without running
 * the probe.
 *
 *   wsb_statectl --redis URL [--prefix P] write FILE [--ttl S] [--no-id]
 *       FILE is a JSON array of node records, each with an "id" (the
 *       record format of node.h); the round summary expires after S s.
 *       With --no-id the round has no id, as state written by hand:
 *       handlers keep no assignment counts for it.
 *   wsb_statectl --redis URL [--prefix P] read
 *       prints the nodes the handler would see, one line each. */
#include "node.h"
#include "redis.h"
#include "state_read.h"
#include "state_write.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
            } else
                buf = b;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int cmd_write(struct wsb_redis *r, const struct wsb_keys *k, const char *file, int ttl, int no_id)
{
    size_t len;
    char *text = slurp(file, &len);
    if (text == NULL) {
        fprintf(stderr, "wsb_statectl: cannot read %s\n", file);
        return 1;
    }
    cJSON *arr = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "wsb_statectl: %s: not a JSON array\n", file);
        cJSON_Delete(arr);
        return 1;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    struct wsb_node *nodes = calloc(n ? n : 1, sizeof *nodes);
    int rc = 1;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        char *rec = cJSON_PrintUnformatted(o);
        char err[WSB_ERRLEN];
        if (!cJSON_IsString(id) || rec == NULL ||
            wsb_node_decode(id->valuestring, strlen(id->valuestring), rec, strlen(rec), &nodes[i], err) != WSB_OK) {
            fprintf(stderr, "wsb_statectl: %s: [%zu]: %s\n", file, i, cJSON_IsString(id) ? err : "no id");
            free(rec);
            goto cleanup;
        }
        free(rec);
        i++;
    }
    struct wsb_round_summary sum = { .id = no_id ? -1 : 0, .at = (long long)time(NULL), .duration_ms = 0,
                                     .nodes = n, .probe = "wsb_statectl" };
    for (size_t j = 0; j < n; j++) {
        sum.up += nodes[j].online != 0;
        sum.down += nodes[j].online == 0;
        sum.draining += nodes[j].drain != 0;
    }
    char err[WSB_ERRLEN];
    if (wsb_state_write_round(r, k, nodes, n, &sum, NULL, NULL, ttl, err) != WSB_OK) {   /* no carry */
        fprintf(stderr, "wsb_statectl: %s\n", err);
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (size_t j = 0; j < i; j++)
        wsb_node_clear(&nodes[j]);
    free(nodes);
    cJSON_Delete(arr);
    return rc;
}

static int cmd_read(struct wsb_redis *r, const struct wsb_keys *k)
{
    struct wsb_state st;
    char err[WSB_ERRLEN];
    if (wsb_state_read(r, k, &st, err) != WSB_OK) {
        fprintf(stderr, "wsb_statectl: %s\n", err);
        return 1;
    }
    printf("live=%d nodes=%zu skipped=%zu drained=%zu\n", st.live, st.n, st.n_skipped, st.n_drain);
    for (size_t i = 0; i < st.n; i++)
        printf("%s %s online=%d drain=%d load=%s\n", st.nodes[i].id, st.nodes[i].endpoint, st.nodes[i].online,
               st.nodes[i].drain, st.nodes[i].load_known ? "known" : "unknown");
    wsb_state_clear(&st);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = "redis://127.0.0.1:6379/0", *prefix = "wsb:", *cmd = NULL, *file = NULL;
    int ttl = 300, no_id = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc)
            ttl = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-id") == 0)
            no_id = 1;
        else if (cmd == NULL)
            cmd = argv[i];
        else if (file == NULL)
            file = argv[i];
        else {
            fprintf(stderr, "usage: wsb_statectl --redis URL [--prefix P] write FILE [--ttl S] [--no-id] | read\n");
            return 2;
        }
    }
    char err[WSB_ERRLEN];
    struct wsb_redis_config cfg;
    struct wsb_keys keys;
    if (wsb_redis_config_parse(url, NULL, 1000, 30000, &cfg, err) != WSB_OK ||
        wsb_keys_init(&keys, prefix, err) != WSB_OK) {
        fprintf(stderr, "wsb_statectl: %s\n", err);
        return 2;
    }
    struct wsb_redis *r = wsb_redis_new(&cfg);
    int rc = 2;
    if (cmd != NULL && strcmp(cmd, "write") == 0 && file != NULL)
        rc = cmd_write(r, &keys, file, ttl, no_id);
    else if (cmd != NULL && strcmp(cmd, "read") == 0)
        rc = cmd_read(r, &keys);
    else
        fprintf(stderr, "usage: wsb_statectl --redis URL [--prefix P] write FILE [--ttl S] [--no-id] | read\n");
    wsb_redis_free(r);
    return rc;
}
