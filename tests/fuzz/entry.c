/* entry.c: the libFuzzer entry point of one target, chosen at build time
 * with -DWSB_FUZZ_FN=wsb_fuzz_<name> (see mk/fuzz.mk).  A broken invariant
 * aborts, so libFuzzer keeps the input as a crash. */
#include "fuzz.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#ifndef WSB_FUZZ_FN
#error "build with -DWSB_FUZZ_FN=wsb_fuzz_<target>"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    wsb_log_init("fuzz", WSB_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bad = WSB_FUZZ_FN(data, size);
    if (bad != NULL) {
        fprintf(stderr, "invariant broken: %s\n", bad);
        abort();
    }
    return 0;
}
