/* curl_outcome.h: what a failed transfer means as a check outcome
 * (outcome.h): libcurl's code with the errno it saw, OpenSSL's verify
 * result, and whether the probe host itself has a route.  check.c asks
 * these for every transfer that did not succeed. */
#ifndef WSB_PROBE_CURL_OUTCOME_H
#define WSB_PROBE_CURL_OUTCOME_H

#include "outcome.h"

#include <sys/socket.h>

/* Maps a libcurl result code (with the errno libcurl saw, 0 if none) to an
 * outcome.  Pure; CURLE_WRITE_ERROR (the probe's own abort) maps to
 * WSB_OUT_PROBE_ERROR and must be interpreted by the caller first. */
enum wsb_outcome wsb_check_outcome_of_curl(int curl_code, long os_errno);

/* Splits a failed certificate verification by OpenSSL's verify result
 * (CURLINFO_SSL_VERIFYRESULT): a chain that leads to no trusted CA is
 * WSB_OUT_TLS_UNTRUSTED, anything else (expired, wrong name, revoked, 0
 * when unknown) WSB_OUT_TLS_VERIFY.  Pure. */
enum wsb_outcome wsb_check_verify_outcome(long verify_result);

/* 1 when the probe host itself has no route to peer (a UDP connect asks
 * the routing table and sends nothing), 0 when it has one or cannot tell
 * (peer's family 0: no address). */
int wsb_check_no_route_of_own(const struct sockaddr_storage *peer);

#endif
