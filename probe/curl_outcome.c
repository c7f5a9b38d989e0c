/* curl_outcome.c: what a failed transfer's libcurl code, errno and
 * certificate verification mean as a check outcome (curl_outcome.h). */
#include "curl_outcome.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <unistd.h>

enum wsb_outcome wsb_check_outcome_of_curl(int curl_code, long os_errno)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return WSB_OUT_OK;
    case CURLE_COULDNT_CONNECT:
        switch (os_errno) {
        case ECONNREFUSED: return WSB_OUT_REFUSED;
        case ETIMEDOUT: return WSB_OUT_TIMEOUT;
        case EMFILE:
        case ENFILE: return WSB_OUT_PROBE_NO_FD;
        case ENOMEM:
        case ENOBUFS: return WSB_OUT_PROBE_NO_MEMORY;
        /* Said by the probe host itself, before any packet left: out of
         * local ports, a local firewall, no IPv6.  (ENETUNREACH may be a
         * router's answer as well as a missing route of the probe's own:
         * transport_outcome asks the routing table.) */
        case EADDRNOTAVAIL:
        case EACCES:
        case EPERM:
        case EAFNOSUPPORT: return WSB_OUT_PROBE_NETWORK;
        default: return WSB_OUT_UNREACHABLE;
        }
    case CURLE_OPERATION_TIMEDOUT:
        return WSB_OUT_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return WSB_OUT_DNS;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ISSUER_ERROR:
        return WSB_OUT_TLS_VERIFY;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return WSB_OUT_TLS_ERROR;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return WSB_OUT_CLOSED;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
        return WSB_OUT_BAD_RESPONSE;
    case CURLE_OUT_OF_MEMORY:
        return WSB_OUT_PROBE_NO_MEMORY;
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return WSB_OUT_PROBE_ERROR;
    default:
        return WSB_OUT_FAILED;
    }
}

enum wsb_outcome wsb_check_verify_outcome(long verify_result)
{
    switch (verify_result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return WSB_OUT_TLS_UNTRUSTED;
    default:
        return WSB_OUT_TLS_VERIFY;
    }
}

int wsb_check_no_route_of_own(const struct sockaddr_storage *peer)
{
    socklen_t len = peer->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                    : peer->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
    if (len == 0)
        return 0;
    int fd = socket(peer->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int missing = connect(fd, (const struct sockaddr *)peer, len) != 0 &&
                  (errno == ENETUNREACH || errno == EHOSTUNREACH);
    close(fd);
    return missing;
}
