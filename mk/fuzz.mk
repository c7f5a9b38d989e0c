# mk/fuzz.mk: fuzzing, soak and valgrind of the CGI handler (issue 6).
# Included at the end of the Makefile.
#
#   make fuzz          builds every libFuzzer target with clang (ASan + UBSan)
#                      and runs each for FUZZ_SECONDS (default 30) from the
#                      seeds in tests/fuzz/corpus/<target>/; new corpus
#                      entries and crashes go to build/fuzz/ (never committed)
#   make fuzz FUZZ_TARGETS=record FUZZ_SECONDS=300    one target, longer
#   make soak          one million requests through lighttpd with wrk
#   make valgrind-cgi  the CGI handler under memcheck (part of `make valgrind`)
#
# A crash input, once fixed, is kept in tests/fuzz/regress/<target>/;
# tests/unit/test_regress.c replays seeds and kept inputs in `make test`.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= route xff record inventory report handshake redis_url select fcgi query
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer $(WARN) $(WERROR) -Icommon -Ihandler -Iprobe \
                $(shell pkg-config --cflags $(PKGS) $(PROBE_PKGS) 2>/dev/null) $(FUZZ_SAN)
# Everything the targets reach, compiled by clang with coverage;
# probe/check_xfer.c is left out because tests/fuzz/targets.c includes it
# (to reach its static WebSocket reply check).
FUZZ_LIB_SRC := $(COMMON_SRC) $(HANDLER_LIB) $(filter-out probe/check_xfer.c,$(PROBE_SRC)) tests/fuzz/targets.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-deps soak valgrind-cgi

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/obj/entry_%.o: tests/fuzz/entry.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -DWSB_FUZZ_FN=wsb_fuzz_$* -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/entry_%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(LIBS_PROBE) $(LIBS_HANDLER)

# clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev), as
# scripts/deps.sh does for the rest: installed when root, else the command.
fuzz-deps:
	@if ! command -v $(FUZZ_CC) >/dev/null || \
	    ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
	      $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
	    if [ "$$(id -u)" -eq 0 ]; then \
	        echo "installing: clang libclang-rt-14-dev"; \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null; \
	    else \
	        echo "run: sudo apt-get install -y clang libclang-rt-14-dev" >&2; exit 1; \
	    fi; \
	fi

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

# The regression replay includes probe/check_xfer.c (see above), so it
# links every probe object but that one.
$(BUILD)/tests/test_regress: $(OBJ)/tests/unit/test_regress.o $(HANDLER_OBJ) \
                             $(filter-out $(OBJ)/probe/check_xfer.o,$(PROBE_OBJ)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $^ -o $@ $(LIBS_PROBE) $(LIBS_HANDLER)

# One million requests through lighttpd (loopback, private ports), bounded
# in time; the figures go to $(BUILD)/soak.txt.
SOAK_REQUESTS ?= 1000000
soak: deps all $(TOOL_BIN)
	@SOAK_REQUESTS=$(SOAK_REQUESTS) SOAK_REPORT=$(BUILD)/soak.txt BUILD=$(BUILD) \
	    bash tests/integration/soak.sh

# The CGI handler, and a FastCGI handler serving lighttpd, under memcheck:
# zero errors, zero leaks.  A prerequisite of `make valgrind`, so it runs
# before the unit tests there.
valgrind-cgi: deps all $(TOOL_BIN)
	@BUILD=$(BUILD) WSB_VALGRIND_FULL=1 bash tests/integration/soak_valgrind.sh

valgrind: valgrind-cgi
