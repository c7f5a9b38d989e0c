#!/usr/bin/env bash
# web_install.sh: `make install` honours PREFIX and DESTDIR: both programs,
# their man pages, the examples (with paths pointed at PREFIX) and the docs
# land under DESTDIR/PREFIX with the right modes; the installed programs
# run and answer --help; `make uninstall` removes all of it.
. "$(dirname "$0")/web_lib.sh"
STAGE="$T_DIR/stage"
P=/opt/wsb

# make passes PREFIX and DESTDIR through (dry run: no build from a test).
out=$(make -s -n -C "$T_ROOT" install PREFIX=$P DESTDIR="$STAGE")
t_match "make install passes PREFIX and DESTDIR to scripts/install.sh" "PREFIX=\"$P\" DESTDIR=\"$STAGE\" .*scripts/install.sh" "$out"
out=$(make -s -n -C "$T_ROOT" uninstall PREFIX=$P DESTDIR="$STAGE")
t_match "make uninstall too" "PREFIX=\"$P\" DESTDIR=\"$STAGE\" .*scripts/install.sh --uninstall" "$out"

PREFIX=$P DESTDIR="$STAGE" BUILD="$BUILD" "$T_ROOT/scripts/install.sh" >"$T_DIR/install.out" 2>&1
t_eq "install: exit 0" 0 "$?"
R="$STAGE$P"
for f in bin/wsb-handler bin/wsb-probe; do
    t_eq "$f: mode 755" 755 "$(stat -c %a "$R/$f" 2>/dev/null)"
done
for f in share/man/man1/wsb-handler.1 share/man/man1/wsb-probe.1 share/doc/wsbalancer/README.md \
         share/wsbalancer/examples/nginx/wsbalancer.conf share/wsbalancer/examples/systemd/wsb-handler.service; do
    t_eq "$f: mode 644" 644 "$(stat -c %a "$R/$f" 2>/dev/null)"
done
t_eq "dbip-update.sh stays executable" 755 "$(stat -c %a "$R/share/wsbalancer/examples/geoip/dbip-update.sh")"
n_src=$(cd "$T_ROOT" && find examples -type f ! -name 'measure-*' | wc -l)
t_eq "every example installed" "$n_src" "$(find "$R/share/wsbalancer/examples" -type f | wc -l)"
t_true "nothing outside DESTDIR/PREFIX" bash -c "[ \"\$(find '$STAGE' -mindepth 1 -maxdepth 1)\" = '$STAGE/opt' ]"
t_true "examples point at PREFIX" grep -q "^ExecStart=$P/bin/wsb-handler " "$R/share/wsbalancer/examples/systemd/wsb-handler.service"
t_true "the Apache example aliases PREFIX/bin/wsb-handler" grep -q "Alias / $P/bin/wsb-handler/" "$R/share/wsbalancer/examples/apache/wsbalancer-fcgid.conf"
t_eq "no /usr/local left in the installed examples and man pages" "" \
    "$(grep -rl /usr/local "$R/share/wsbalancer" "$R/share/man" | tr '\n' ' ')"
t_true "the man pages name PREFIX's examples" grep -q "$P/share/wsbalancer/examples" "$R/share/man/man1/wsb-handler.1"
for m in wsb-handler wsb-probe; do
    warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$R/share/man/man1/$m.1" 2>&1)
    t_eq "man $m renders without warnings" "" "$warn"
    t_match "man $m has its sections" "SYNOPSIS.*OPTIONS.*ENVIRONMENT.*EXIT STATUS" "$(man -l "$R/share/man/man1/$m.1" 2>/dev/null | tr '\n' ' ')"
done
t_match "installed wsb-handler --help" "--listen ADDR.*--workers N.*--threads T.*WSB_REDIS_URL" "$("$R/bin/wsb-handler" --help | tr '\n' ' ')"
t_match "installed wsb-probe --help" "--inventory FILE.*--interval S.*Exit status" "$("$R/bin/wsb-probe" --help | tr '\n' ' ')"
t_match "installed wsb-handler --version" "^wsb-handler [0-9]" "$("$R/bin/wsb-handler" --version)"
t_true "install says what to do next" grep -q "man wsb-handler" "$T_DIR/install.out"

# Installing again over a running handler works (files are replaced, not rewritten).
"$R/bin/wsb-handler" --listen "$T_DIR/h.sock" --workers 1 2>/dev/null &
T_PIDS+=($!)
w_wait_socket "$T_DIR/h.sock"
PREFIX=$P DESTDIR="$STAGE" BUILD="$BUILD" "$T_ROOT/scripts/install.sh" >/dev/null 2>&1
t_eq "reinstall while the program runs: exit 0" 0 "$?"
t_match "the running pool still answers" '^Status: ' "$(w_fcgi "$T_DIR/h.sock" /v1/websocket/server)"

PREFIX=$P DESTDIR="$STAGE" "$T_ROOT/scripts/install.sh" --uninstall >/dev/null
t_eq "uninstall: exit 0" 0 "$?"
t_eq "uninstall leaves no file" "" "$(find "$STAGE" -type f | tr '\n' ' ')"
PREFIX=relative/path "$T_ROOT/scripts/install.sh" >"$T_DIR/rel.out" 2>&1
t_eq "a relative PREFIX: exit 2" 2 "$?"
t_true "... saying so" grep -q "PREFIX must be an absolute path" "$T_DIR/rel.out"
t_summary
