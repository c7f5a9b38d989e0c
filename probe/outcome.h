/* outcome.h: the named result of one check or load report.
 *
 * A check only says what happened (STYLE 6); probe/health.c decides what it
 * means for the node.  Outcomes are stored in the node record's last_error
 * and logged by name, from the table in outcome.c.  Three classes:
 *   - WSB_OUT_OK:            the node answered as it should;
 *   - node failures:         the node is at fault (refused, timeout, ...);
 *   - probe faults:          the probe itself could not check (no file
 *                            descriptor, no memory, libcurl broken, its own
 *                            network refused the connection): the node keeps
 *                            its previous state, the probe logs it;
 *   - report outcomes:       what became of the load report (none, bad_report,
 *                            ...); they never change a node's health. */
#ifndef WSB_OUTCOME_H
#define WSB_OUTCOME_H

enum wsb_outcome {
    WSB_OUT_OK = 0,          /* "ok" */
    /* node failures */
    WSB_OUT_REFUSED,         /* "refused": connection refused */
    WSB_OUT_UNREACHABLE,     /* "unreachable": no route, host or network down */
    WSB_OUT_TIMEOUT,         /* "timeout": no connection or answer in timeout_ms */
    WSB_OUT_DNS,             /* "dns": the host name did not resolve */
    WSB_OUT_TLS_VERIFY,      /* "tls_verify": certificate expired, not for this name, revoked, ... */
    WSB_OUT_TLS_UNTRUSTED,   /* "tls_untrusted": the chain leads to no CA of ca_file (unknown
                              * issuer, self-signed): the node's or the probe's bundle's */
    WSB_OUT_TLS_ERROR,       /* "tls_error": TLS handshake failed otherwise */
    WSB_OUT_CLOSED,          /* "closed": connection closed or reset before an answer */
    WSB_OUT_BAD_RESPONSE,    /* "bad_response": the answer is not HTTP */
    WSB_OUT_BAD_STATUS,      /* "bad_status": HTTP status not 101 (websocket) or 2xx (http) */
    WSB_OUT_BAD_HANDSHAKE,   /* "bad_handshake": 101 without a correct Sec-WebSocket-Accept */
    WSB_OUT_FAILED,          /* "failed": any other network error */
    /* load report outcomes (never change health) */
    WSB_OUT_NO_REPORT,       /* "no_report": no load report was asked for or given */
    WSB_OUT_BAD_REPORT,      /* "bad_report": the report is not a valid load report */
    WSB_OUT_REPORT_TOO_LARGE,/* "report_too_large": the report exceeds its size limit */
    WSB_OUT_REPORT_FAILED,   /* "report_failed": status_url could not be fetched or not 2xx */
    /* probe faults (the node keeps its previous state) */
    WSB_OUT_PROBE_NO_FD,     /* "probe_no_fd": out of file descriptors (EMFILE, ENFILE) */
    WSB_OUT_PROBE_NO_MEMORY, /* "probe_no_memory": out of memory (ENOMEM, ENOBUFS) */
    WSB_OUT_PROBE_ERROR,     /* "probe_error": the probe's own setup failed (libcurl, ca_file) */
    WSB_OUT_PROBE_NETWORK,   /* "probe_network": the probe host's own network said no
                              * (EADDRNOTAVAIL, EACCES, EPERM, ENETUNREACH, EAFNOSUPPORT) */
    WSB_OUT_COUNT
};

/* The outcome's name ("tls_verify"); "unknown" for a value out of range.
 * Never NULL, always shorter than WSB_OUTCOME_LEN. */
const char *wsb_outcome_name(enum wsb_outcome o);

/* Finds an outcome by name; returns 1 and sets *out, or 0 when unknown. */
int wsb_outcome_from_name(const char *name, enum wsb_outcome *out);

/* 1 when the outcome is the probe's own fault, not the node's. */
int wsb_outcome_is_probe_fault(enum wsb_outcome o);

/* 1 when a failure with this outcome may as well be the probe host's as
 * the node's (dns, tls_untrusted): one such failure is the node's, but
 * nearly every check of a round failing so is the probe's (fault.h). */
int wsb_outcome_is_local_looking(enum wsb_outcome o);

/* 1 for the outcomes of a load report (no_report .. report_failed). */
int wsb_outcome_is_report(enum wsb_outcome o);

#endif
