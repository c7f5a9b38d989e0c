/* outcome.c: the string table of check and report outcomes. */
#include "outcome.h"

#include <string.h>

static const char *const outcome_names[WSB_OUT_COUNT] = {
    [WSB_OUT_OK] = "ok",
    [WSB_OUT_REFUSED] = "refused",
    [WSB_OUT_UNREACHABLE] = "unreachable",
    [WSB_OUT_TIMEOUT] = "timeout",
    [WSB_OUT_DNS] = "dns",
    [WSB_OUT_TLS_VERIFY] = "tls_verify",
    [WSB_OUT_TLS_UNTRUSTED] = "tls_untrusted",
    [WSB_OUT_TLS_ERROR] = "tls_error",
    [WSB_OUT_CLOSED] = "closed",
    [WSB_OUT_BAD_RESPONSE] = "bad_response",
    [WSB_OUT_BAD_STATUS] = "bad_status",
    [WSB_OUT_BAD_HANDSHAKE] = "bad_handshake",
    [WSB_OUT_FAILED] = "failed",
    [WSB_OUT_NO_REPORT] = "no_report",
    [WSB_OUT_BAD_REPORT] = "bad_report",
    [WSB_OUT_REPORT_TOO_LARGE] = "report_too_large",
    [WSB_OUT_REPORT_FAILED] = "report_failed",
    [WSB_OUT_PROBE_NO_FD] = "probe_no_fd",
    [WSB_OUT_PROBE_NO_MEMORY] = "probe_no_memory",
    [WSB_OUT_PROBE_ERROR] = "probe_error",
    [WSB_OUT_PROBE_NETWORK] = "probe_network",
};

const char *wsb_outcome_name(enum wsb_outcome o)
{
    if ((unsigned)o >= (unsigned)WSB_OUT_COUNT || outcome_names[o] == NULL)
        return "unknown";
    return outcome_names[o];
}

int wsb_outcome_from_name(const char *name, enum wsb_outcome *out)
{
    for (int i = 0; i < (int)WSB_OUT_COUNT; i++) {
        if (outcome_names[i] != NULL && strcmp(outcome_names[i], name) == 0) {
            *out = (enum wsb_outcome)i;
            return 1;
        }
    }
    return 0;
}

int wsb_outcome_is_probe_fault(enum wsb_outcome o)
{
    return o == WSB_OUT_PROBE_NO_FD || o == WSB_OUT_PROBE_NO_MEMORY || o == WSB_OUT_PROBE_ERROR ||
           o == WSB_OUT_PROBE_NETWORK;
}

int wsb_outcome_is_local_looking(enum wsb_outcome o)
{
    return o == WSB_OUT_DNS || o == WSB_OUT_TLS_UNTRUSTED;
}

int wsb_outcome_is_report(enum wsb_outcome o)
{
    return o == WSB_OUT_NO_REPORT || o == WSB_OUT_BAD_REPORT || o == WSB_OUT_REPORT_TOO_LARGE ||
           o == WSB_OUT_REPORT_FAILED;
}
