# mk/deb.mk: the Debian package, included at the end of the Makefile.
#   make deb       the wsbalancer .deb (and its source package) in build/deb/,
#                  built by dpkg-buildpackage from debian/ in a copy of the tree
#                  and checked by lintian (scripts/deb.sh); as root, missing
#                  build dependencies are installed through apt
#   make test-deb  builds, installs, runs, upgrades and purges the package
#                  (tests/deb/package.sh, 2-4 minutes: two package builds; root,
#                  skipped otherwise; .ci/run runs it after make test)

.PHONY: deb test-deb

deb:
	@DEB_OUT="$(abspath $(BUILD))/deb" scripts/deb.sh

test-deb: all $(TOOL_BIN)
	@BUILD=$(BUILD) bash tests/deb/package.sh
