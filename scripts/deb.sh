#!/bin/sh
# deb.sh: `make deb`.  Builds the Debian packages (source and binary: the
# wsbalancer .deb and its -dbgsym) with dpkg-buildpackage in a copy of the
# tree, so that nothing is written into the tree or next to it, puts them in
# build/deb/ and runs lintian on them (any error or warning fails).  As root
# it installs missing build dependencies through apt; otherwise it prints the
# command.
#   DEB_SRC=DIR    the tree to build (default: this one; tracked and
#                  untracked files as they are now, not build/ nor .git)
#   DEB_OUT=DIR    where the packages, .changes, .buildinfo and build.log go
#   DEB_LINTIAN=0  no lintian
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "${DEB_SRC:-$ROOT}" && pwd)
OUT=${DEB_OUT:-$ROOT/build/deb}
export DEBIAN_FRONTEND=noninteractive
# The package is built from debian/rules' settings alone: nothing from a
# calling make (MAKEFLAGS carries its command-line variables, e.g. WERROR)
# or from the environment of a test (BUILD names the tree's build folder).
unset MAKEFLAGS MFLAGS MAKELEVEL BUILD OPT WERROR EXTRA_CFLAGS CFLAGS CPPFLAGS LDFLAGS PREFIX DESTDIR EXAMPLESDIR

as_root_install() {   # what, packages...: apt-get install as root, else say how
    what=$1; shift
    if [ "$(id -u)" -ne 0 ]; then
        echo "deb: missing $what; run: sudo apt-get install -y $*" >&2
        exit 1
    fi
    echo "deb: installing $what: $*"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

tools=""
command -v dpkg-buildpackage >/dev/null || tools="$tools dpkg-dev"
[ -x /usr/bin/dh ] || tools="$tools debhelper"
command -v fakeroot >/dev/null || tools="$tools fakeroot"
[ "${DEB_LINTIAN:-1}" = 0 ] || command -v lintian >/dev/null || tools="$tools lintian"
[ -z "$tools" ] || as_root_install "packaging tools" $tools

TMP=$(mktemp -d /tmp/wsb-deb.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
[ -n "$version" ] || { echo "deb: no version in $SRC/debian/changelog" >&2; exit 1; }
COPY="$TMP/wsbalancer-$version"
mkdir -p "$COPY"
if [ -e "$SRC/.git" ] && command -v git >/dev/null; then
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf -) | tar -C "$COPY" -xf -
else
    tar -C "$SRC" --exclude=./build --exclude=./.git -cf - . | tar -C "$COPY" -xf -
fi

if ! (cd "$COPY" && dpkg-checkbuilddeps) 2>"$TMP/builddeps"; then
    if [ "$(id -u)" -ne 0 ]; then
        cat "$TMP/builddeps" >&2
        echo "deb: run as root: (cd $SRC && sudo apt-get build-dep -y ./)" >&2
        exit 1
    fi
    echo "deb: installing the build dependencies (apt-get build-dep)"
    apt-get update -qq
    (cd "$COPY" && apt-get build-dep -y -qq ./ >/dev/null)
fi

echo "deb: building wsbalancer $version in $COPY"
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
if ! (cd "$COPY" && dpkg-buildpackage -us -uc) >"$TMP/build.log" 2>&1; then
    tail -40 "$TMP/build.log" >&2
    echo "deb: dpkg-buildpackage failed (log above)" >&2
    exit 1
fi
mkdir -p "$OUT"
for f in "$TMP"/wsbalancer*_"$version"*; do
    [ -f "$f" ] && mv -f "$f" "$OUT/"
done
mv -f "$TMP/build.log" "$OUT/build-$version.log"
arch=$(dpkg --print-architecture)
changes="$OUT/wsbalancer_${version}_$arch.changes"
ls -1 "$OUT"/*"_$version"* | sed 's|^|deb: |'
if [ "${DEB_LINTIAN:-1}" != 0 ]; then
    echo "deb: lintian $changes"
    lintian --fail-on error,warning ${DEB_LINTIAN_ARGS:-} "$changes"
    echo "deb: lintian: no errors, no warnings"
fi
