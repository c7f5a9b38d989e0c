/* wskey.c: the WebSocket handshake values (RFC 6455 section 4) from
 * libcrypto's SHA-1 and base64.  SHA-1 is used here only because RFC 6455
 * fixes it; it protects nothing. */
#include "wskey.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

void wsb_sha1(const void *data, size_t len, uint8_t out[20])
{
    SHA1(data, len, out);
}

size_t wsb_base64(const uint8_t *in, size_t len, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

void wsb_ws_key(const uint8_t nonce[16], char key[WSB_WS_KEY_LEN + 1])
{
    wsb_base64(nonce, 16, key);
}

void wsb_ws_accept(const char *key, char accept[WSB_WS_ACCEPT_LEN + 1])
{
    char buf[64 + sizeof WSB_WS_GUID];
    size_t klen = strnlen(key, 64);
    memcpy(buf, key, klen);
    memcpy(buf + klen, WSB_WS_GUID, sizeof WSB_WS_GUID - 1);
    uint8_t digest[20];
    wsb_sha1(buf, klen + sizeof WSB_WS_GUID - 1, digest);
    wsb_base64(digest, 20, accept);
}
