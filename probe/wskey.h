/* wskey.h: the WebSocket handshake key and its expected answer (RFC 6455
 * section 4): Sec-WebSocket-Accept = base64(SHA-1(key + GUID)).  Pure
 * functions; the caller supplies the 16 random bytes. */
#ifndef WSB_PROBE_WSKEY_H
#define WSB_PROBE_WSKEY_H

#include <stddef.h>
#include <stdint.h>

#define WSB_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WSB_WS_KEY_LEN 24        /* base64 of 16 bytes, without NUL */
#define WSB_WS_ACCEPT_LEN 28     /* base64 of 20 bytes, without NUL */

/* SHA-1 of len bytes into out[20] (libcrypto).  Cannot fail. */
void wsb_sha1(const void *data, size_t len, uint8_t out[20]);

/* Standard base64 (with '=' padding, libcrypto) of len bytes (at most
 * INT_MAX) into out, which must hold 4 * ((len + 2) / 3) + 1 bytes; returns
 * the length written (NUL excluded).  Cannot fail. */
size_t wsb_base64(const uint8_t *in, size_t len, char *out);

/* key[WSB_WS_KEY_LEN + 1] = base64 of the 16 bytes in nonce.  Cannot fail. */
void wsb_ws_key(const uint8_t nonce[16], char key[WSB_WS_KEY_LEN + 1]);

/* accept[WSB_WS_ACCEPT_LEN + 1] = the Sec-WebSocket-Accept a server must
 * answer to key (a NUL-terminated string; bytes past 64 are ignored).
 * Cannot fail. */
void wsb_ws_accept(const char *key, char accept[WSB_WS_ACCEPT_LEN + 1]);

#endif
