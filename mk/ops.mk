# ops.mk: operations targets, included at the end of the Makefile.
#   make install   [PREFIX=/usr/local] [DESTDIR=] [EXAMPLESDIR=PREFIX/share/wsbalancer/examples]
#                  programs, man pages, examples, docs (debian/rules: PREFIX=/usr,
#                  EXAMPLESDIR=/usr/share/doc/wsbalancer/examples)
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]  removes what install put there
#   make demo      [DEMO_PORT=8080] [DEMO_SECONDS=]  the balancer on one machine,
#                  on 127.0.0.1:8080 until Ctrl-C (scripts/demo.sh)
#   make bench-apache   burst latency behind Apache: mod_fcgid with default and
#                  with the example's settings, mod_proxy_fcgi to the pool
PREFIX  ?= /usr/local
DESTDIR ?=
EXAMPLESDIR ?=

.PHONY: install uninstall demo bench-apache

install: all
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" BUILD="$(BUILD)" EXAMPLESDIR="$(EXAMPLESDIR)" scripts/install.sh

uninstall:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" EXAMPLESDIR="$(EXAMPLESDIR)" scripts/install.sh --uninstall

demo: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tests/wsb_statectl
	@BUILD="$(BUILD)" $(if $(DEMO_PORT),DEMO_PORT="$(DEMO_PORT)") \
	    $(if $(filter-out undefined,$(origin DEMO_SECONDS)),DEMO_SECONDS="$(DEMO_SECONDS)") scripts/demo.sh

bench-apache: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tests/wsb_statectl
	@BUILD="$(abspath $(BUILD))" examples/apache/measure-burst.sh
