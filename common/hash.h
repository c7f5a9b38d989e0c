/* hash.h: FNV-1a, the one non-cryptographic hash of the project (cell
 * index keys in handler/cell_index.c, node-id tables in state.c).  Not for
 * anything an adversary may aim collisions at without a full compare
 * behind it. */
#ifndef WSB_HASH_H
#define WSB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define WSB_FNV_OFFSET 0xcbf29ce484222325ull

/* Continues hash h (start from WSB_FNV_OFFSET) over len bytes of data. */
static inline uint64_t wsb_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
