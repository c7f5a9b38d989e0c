#!/bin/sh
# install.sh: installs wsbalancer (`make install`; `make uninstall` runs it
# with --uninstall).  Honours PREFIX (default /usr/local) and DESTDIR (a
# staging root for packages: files go to $DESTDIR$PREFIX/...).
#
#   $PREFIX/bin/wsb-handler, $PREFIX/bin/wsb-probe
#   $PREFIX/share/man/man1/wsb-handler.1, wsb-probe.1
#   $PREFIX/share/wsbalancer/examples/...   (paths in them point at $PREFIX;
#                                  EXAMPLESDIR= puts them elsewhere: the
#                                  Debian package uses /usr/share/doc/wsbalancer/examples)
#   $PREFIX/share/doc/wsbalancer/README.md
#
# It creates no users, enables no service and writes nothing under /etc:
# the closing lines say what to do next.
#   BUILD=build   where `make` put the programs
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
case "$PREFIX" in /*) ;; *) echo "install: PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 2 ;; esac

BIN="$DESTDIR$PREFIX/bin"
MAN="$DESTDIR$PREFIX/share/man/man1"
EXAMPLESDIR=${EXAMPLESDIR:-$PREFIX/share/wsbalancer/examples}
case "$EXAMPLESDIR" in /*) ;; *) echo "install: EXAMPLESDIR must be an absolute path, not '$EXAMPLESDIR'" >&2; exit 2 ;; esac
EX="$DESTDIR$EXAMPLESDIR"
SHARE="$DESTDIR$PREFIX/share/wsbalancer"
DOC="$DESTDIR$PREFIX/share/doc/wsbalancer"

if [ "${1:-}" = --uninstall ]; then
    for f in "$BIN/wsb-handler" "$BIN/wsb-probe" "$MAN/wsb-handler.1" "$MAN/wsb-probe.1"; do
        [ -e "$f" ] && rm -f "$f" && echo "removed $f"
    done
    for d in "$EX" "$SHARE" "$DOC"; do
        [ -e "$d" ] && rm -rf "$d" && echo "removed $d"
    done
    exit 0
fi

programs="wsb-handler"
[ -x "$BUILD/wsb-probe" ] && programs="$programs wsb-probe"
for p in $programs; do
    [ -x "$BUILD/$p" ] || { echo "install: $BUILD/$p is not built (run: make)" >&2; exit 1; }
done
[ -x "$BUILD/wsb-probe" ] || echo "install: warning: $BUILD/wsb-probe is not built; installing the handler only" >&2

# Paths in the examples and man pages name the default prefix; point them
# at this one.
relocate() {   # src dst mode
    sed -e "s|/usr/local/bin|$PREFIX/bin|g" -e "s|/usr/local/share/wsbalancer/examples|$EXAMPLESDIR|g" \
        -e "s|/usr/local/share/wsbalancer|$PREFIX/share/wsbalancer|g" "$1" > "$2.tmp"
    chmod "$3" "$2.tmp"
    mv -f "$2.tmp" "$2"
}

mkdir -p "$BIN" "$MAN" "$EX" "$DOC"
for p in $programs; do
    install -m 0755 "$BUILD/$p" "$BIN/$p.tmp"
    mv -f "$BIN/$p.tmp" "$BIN/$p"   # a running program keeps its old file
    echo "installed $BIN/$p"
done
for m in wsb-handler wsb-probe; do
    relocate "$ROOT/man/$m.1" "$MAN/$m.1" 0644
done
echo "installed $MAN/wsb-handler.1 $MAN/wsb-probe.1"

rm -rf "$EX"
(cd "$ROOT/examples" && find . -type d) | while read -r d; do mkdir -p "$EX/$d"; done
# (measure-*.sh are tools for the source tree, not configuration)
(cd "$ROOT/examples" && find . -type f ! -name 'measure-*') | while read -r f; do
    if [ -x "$ROOT/examples/$f" ]; then mode=0755; else mode=0644; fi
    relocate "$ROOT/examples/$f" "$EX/$f" "$mode"
done
echo "installed $EX"
install -m 0644 "$ROOT/README.md" "$DOC/README.md"
echo "installed $DOC"

cat <<EOF

Next (README "Install"):
  adduser --system --no-create-home --ingroup www-data wsbalancer
  install -d -m 0750 -g www-data /etc/wsbalancer
  cp $EXAMPLESDIR/wsbalancer/* /etc/wsbalancer/    # then edit
  a web server: $EXAMPLESDIR/{lighttpd,apache,nginx}/
  the pool (nginx, Apache mod_proxy_fcgi): examples/systemd/wsb-handler.service
  the probe: examples/cron/wsb-probe, or examples/systemd/wsb-probe.{service,timer}
  man wsb-handler; man wsb-probe
EOF
