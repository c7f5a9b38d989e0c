/* handler.c: one process's handler: settings, state cache and GeoIP
 * database, made and released together. */
#include "handler.h"
#include "log.h"
#include "metrics_expose.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

struct wsb_handler *wsb_handler_new(struct wsb_handler_config *c)
{
    struct wsb_handler *h = calloc(1, sizeof *h);
    if (h == NULL) {
        wsb_handler_config_free(c);
        return NULL;
    }
    h->cfg = *c;
    memset(c, 0, sizeof *c);
    h->cache = wsb_state_cache_new(&h->cfg);
    h->metrics = wsb_metrics_new(&h->cfg.keys, h->cfg.metrics_host, h->cfg.retry_ms);
    h->reader = wsb_metrics_reader_new(&h->cfg.redis);
    if (h->cache == NULL || h->metrics == NULL || h->reader == NULL)
        goto cleanup;
    wsb_state_cache_set_metrics(h->cache, h->metrics);
    if (h->cfg.geoip_path[0] != '\0') {
        h->geo = wsb_geo_new(h->cfg.geoip_path, h->cfg.geoip_check_ms);
        if (h->geo == NULL)
            goto cleanup;
        char why[WSB_ERRLEN];
        int good = wsb_geo_status(h->geo, why) == WSB_OK;
        if (!good)
            wsb_log_error("geoip: %s; serving without geography until the file is fixed", why);
        wsb_metrics_set_geoip(h->metrics, good);
    }
    return h;
cleanup:
    wsb_state_cache_free(h->cache);
    wsb_metrics_free(h->metrics);
    wsb_metrics_reader_free(h->reader);
    wsb_handler_config_free(&h->cfg);
    free(h);
    return NULL;
}

void wsb_handler_free(struct wsb_handler *h)
{
    if (h == NULL)
        return;
    /* The cache stops its refresher before anything it uses goes. */
    wsb_state_cache_free(h->cache);
    wsb_metrics_free(h->metrics);
    wsb_metrics_reader_free(h->reader);
    wsb_geo_free(h->geo);
    wsb_handler_config_free(&h->cfg);
    free(h);
}

void wsb_handler_watch_state(struct wsb_handler *h)
{
    wsb_state_cache_watch(h->cache);
}

int wsb_handler_start_refresher(struct wsb_handler *h)
{
    return wsb_state_cache_start_refresher(h->cache);
}

void wsb_handler_stop_refresher(struct wsb_handler *h)
{
    if (h != NULL)
        wsb_state_cache_stop_refresher(h->cache);
}
