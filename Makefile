# wsbalancer: build, test and bench.  `make` builds build/wsb-handler and
# build/wsb-probe; `make test` installs what it needs (apt, as root) and
# runs every test; `make asan` runs them under AddressSanitizer + UBSan.

CC      ?= cc
PKGS    := libcjson libmaxminddb hiredis fcgi
PROBE_PKGS := libcjson hiredis libcurl libcrypto
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wpointer-arith -Wcast-qual -Wvla
WERROR  ?=
# The version is written once, in debian/changelog's first line: --version, the
# probe's User-Agent and the Debian package (make deb) all take it from there.
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog 2>/dev/null)
CFLAGS_ALL = -std=gnu11 $(OPT) $(WARN) $(WERROR) -Icommon -Ihandler -Iprobe \
             $(if $(VERSION),-DWSB_VERSION='"$(VERSION)"') \
             $(shell pkg-config --cflags $(PKGS) $(PROBE_PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LIBS_HANDLER = $(shell pkg-config --libs libcjson libmaxminddb hiredis 2>/dev/null) -lfcgi -lpthread -lm
LIBS_PROBE   = $(shell pkg-config --libs libcjson hiredis libcurl libcrypto 2>/dev/null) -lpthread -lm
LDFLAGS ?=

BUILD   ?= build
OBJ     := $(BUILD)/obj

COMMON_SRC  := $(wildcard common/*.c)
HANDLER_LIB := $(filter-out handler/main.c,$(wildcard handler/*.c))
PROBE_SRC   := $(filter-out probe/main.c,$(wildcard probe/*.c))

COMMON_OBJ  := $(COMMON_SRC:%.c=$(OBJ)/%.o)
HANDLER_OBJ := $(HANDLER_LIB:%.c=$(OBJ)/%.o)
PROBE_OBJ   := $(PROBE_SRC:%.c=$(OBJ)/%.o)

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC    := $(wildcard tests/tools/*.c)
TOOL_BIN    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
# LD_PRELOAD shims for tests: shared objects, built with every tool.
PRELOAD_SRC := $(wildcard tests/tools/preload/*.c)
TOOL_BIN    += $(PRELOAD_SRC:tests/tools/preload/%.c=$(BUILD)/tests/preload/%.so)

PROGRAMS := $(BUILD)/wsb-handler
ifneq ($(wildcard probe/main.c),)
PROGRAMS += $(BUILD)/wsb-probe
endif

.PHONY: all test unit integration asan valgrind deps clean bench bench-peer install unit-bins sim
all: $(PROGRAMS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# A new version rebuilds what prints it.
$(patsubst %.c,$(OBJ)/%.o,$(shell grep -l WSB_VERSION handler/*.c probe/*.c common/*.c 2>/dev/null)): \
    $(wildcard debian/changelog)

# handler/fcgi.c relies on three private fields of libfcgi's FCGX_Request
# (ipcFd, keepConnection, detached; see the comment there), checked against these
# versions of libfcgi: the build stops on any other until they are checked.
FCGI_CHECKED := 2.4.2 2.4.3 2.4.4 2.4.5 2.4.6 2.4.7
FCGI_VERSION := $(shell pkg-config --modversion fcgi 2>/dev/null)
$(OBJ)/handler/fcgi.o: handler/fcgi.c
	@case " $(FCGI_CHECKED) " in *" $(FCGI_VERSION) "*) ;; *) \
	    echo "handler/fcgi.c relies on FCGX_Request's private fields ipcFd, keepConnection and detached as libfcgi" \
	         "$(FCGI_CHECKED) defines them, but the installed libfcgi is '$(FCGI_VERSION)': check them in its" \
	         "fcgiapp.h and fcgiapp.c, then add the version to FCGI_CHECKED in the Makefile" >&2; exit 1;; esac
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/wsb-handler: $(OBJ)/handler/main.o $(HANDLER_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $^ -o $@ $(LIBS_HANDLER)

# The probe links only its own libraries: GeoIP, selection and libfcgi live in handler/.
$(BUILD)/wsb-probe: $(OBJ)/probe/main.o $(PROBE_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $^ -o $@ $(LIBS_PROBE)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(HANDLER_OBJ) $(PROBE_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $^ -o $@ $(LIBS_PROBE) $(LIBS_HANDLER)

$(BUILD)/tests/%: $(OBJ)/tests/tools/%.o $(HANDLER_OBJ) $(PROBE_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $^ -o $@ $(LIBS_PROBE) $(LIBS_HANDLER)

# A shim is loaded into processes built with or without sanitizers, so it
# is built without EXTRA_CFLAGS (no sanitizer runtime of its own).
$(BUILD)/tests/preload/%.so: tests/tools/preload/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(OPT) $(WARN) $(WERROR) -fPIC -shared $< -o $@ -ldl

# Everything the tests need, installed through apt when root.
deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(TOOL_BIN)
	@BUILD=$(BUILD) tests/run.sh

unit: all $(UNIT_BIN) $(TOOL_BIN)
	@BUILD=$(BUILD) tests/run.sh unit

integration: all $(UNIT_BIN) $(TOOL_BIN)
	@BUILD=$(BUILD) tests/run.sh integration

# The whole suite under AddressSanitizer + UBSan, in its own build folder.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" all unit-bins
	@BUILD=build/asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

unit-bins: $(UNIT_BIN) $(TOOL_BIN)

# Unit tests and CGI runs under valgrind memcheck.
valgrind: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(TOOL_BIN)
	@BUILD=$(BUILD) WSB_VALGRIND=1 tests/run.sh unit

clean:
	rm -rf build

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# Speed and memory, measured against references in the same run (not part of `make test`).
bench-peer: deps all $(BUILD)/tests/wsb_statectl $(BUILD)/tests/null_backend
	@command -v node >/dev/null || apt-get install -y -qq nodejs npm >/dev/null
	@BUILD=$(abspath $(BUILD)) scripts/bench/peer.sh

bench: deps all $(BUILD)/tests/fcgi_const $(BUILD)/tests/bench_decide $(BUILD)/tests/wsb_statectl $(BUILD)/tests/standin_fast
	@BUILD=$(abspath $(BUILD)) scripts/bench/bench.sh

# Two handler pools over one Redis, driven over FastCGI through bursts, a
# dead node, a recovering one, budgets and clients all over the world (not
# part of `make test`; tests/integration/sim_short.sh is its short version).
sim: deps all $(BUILD)/tests/wsb_statectl $(BUILD)/tests/wsb_sim
	@BUILD=$(abspath $(BUILD)) tests/sim/run.sh
-include mk/fuzz.mk
-include mk/ops.mk
-include mk/deb.mk
