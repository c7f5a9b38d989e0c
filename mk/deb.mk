# mk/deb.mk: the Debian package, included at the end of the Makefile.
#   make deb       the wsbalancer .deb (and its source package) in build/deb/,
#                  built by dpkg-buildpackage from debian/ in a copy of the tree
#                  and checked by lintian (scripts/deb.sh); as root, missing
#                  build dependencies are installed through apt
#   make test-deb  builds, installs, runs, upgrades and purges the package
#                  (tests/integration/deb_package.sh; root)

.PHONY: deb test-deb

deb:
	@DEB_OUT="$(abspath $(BUILD))/deb" scripts/deb.sh

test-deb: all $(TOOL_BIN)
	@BUILD=$(BUILD) WSB_ONLY=deb_package tests/run.sh integration
