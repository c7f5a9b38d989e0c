/* report.c: parsing node load reports and turning them into a load. */
#include "report.h"
#include "json_get.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <string.h>

/* cJSON keeps the place of its last parse error in a global that every
 * parse writes: parses are one at a time (report.h). */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

static void report_none(struct wsb_load_report *r)
{
    r->has_load = 0;
    r->load = 0;
    r->connections = -1;
    r->capacity = -1;
}

enum wsb_outcome wsb_report_parse(const char *body, size_t len, int required, struct wsb_load_report *out,
                                  char *why)
{
    enum wsb_outcome result = WSB_OUT_BAD_REPORT;
    cJSON *o = NULL;
    struct wsb_load_report r;
    report_none(&r);
    report_none(out);
    if (len > WSB_REPORT_MAX) {
        wsb_fail(why, 0, "report is larger than %d bytes", WSB_REPORT_MAX);
        return WSB_OUT_REPORT_TOO_LARGE;
    }
    size_t blank = 0;
    while (blank < len && strchr(" \t\r\n", body[blank]) != NULL && body[blank] != '\0')
        blank++;
    if (blank == len) {
        if (!required)
            return WSB_OUT_NO_REPORT;
        wsb_fail(why, 0, "report is empty");
        return WSB_OUT_BAD_REPORT;
    }
    const char *end = NULL;
    pthread_mutex_lock(&parse_lock);
    o = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    pthread_mutex_unlock(&parse_lock);
    if (o != NULL && end != NULL) {
        size_t used = (size_t)(end - body);
        while (used < len && (body[used] == ' ' || body[used] == '\t' || body[used] == '\r' || body[used] == '\n'))
            used++;
        if (used < len) {
            wsb_fail(why, 0, "report has bytes after its JSON value");
            goto cleanup;
        }
    }
    if (o == NULL) {
        wsb_fail(why, 0, "report is not JSON");
        goto cleanup;
    }
    if (!cJSON_IsObject(o)) {
        wsb_fail(why, 0, "report is not a JSON object");
        goto cleanup;
    }
    int has_conns, has_cap;
    double v;
    if (wsb_json_number(o, "", "load", 0, 0, WSB_MAX_LOAD_VALUE, &r.has_load, &r.load, why) != WSB_OK ||
        wsb_json_number(o, "", "connections", WSB_JSON_WHOLE | WSB_JSON_SAY_FLOOR, 0, 9e15, &has_conns, &v,
                        why) != WSB_OK)
        goto cleanup;
    if (has_conns)
        r.connections = (long long)v;
    if (wsb_json_number(o, "", "capacity", WSB_JSON_WHOLE | WSB_JSON_SAY_FLOOR, 1, 9e15, &has_cap, &v, why) !=
        WSB_OK)
        goto cleanup;
    if (has_cap)
        r.capacity = (long long)v;
    if (!r.has_load && !has_conns) {
        if (!required) {
            result = WSB_OUT_NO_REPORT;
            goto cleanup;
        }
        wsb_fail(why, 0, "report has neither \"connections\" nor \"load\"");
        goto cleanup;
    }
    *out = r;
    result = WSB_OUT_OK;
cleanup:
    cJSON_Delete(o);
    return result;
}

void wsb_report_apply(const struct wsb_load_report *r, long long inventory_capacity, struct wsb_node *n)
{
    n->load_known = 0;
    n->load = 0;
    n->connections = -1;
    n->capacity = inventory_capacity > 0 ? inventory_capacity : -1;
    if (r == NULL)
        return;
    if (r->capacity > 0)
        n->capacity = r->capacity;
    n->connections = r->connections;
    if (r->has_load) {
        n->load_known = 1;
        n->load = r->load;
    } else if (r->connections >= 0 && n->capacity > 0) {
        double load = (double)r->connections / (double)n->capacity;
        n->load_known = 1;
        n->load = load > WSB_MAX_LOAD_VALUE ? WSB_MAX_LOAD_VALUE : load;
    }
}
