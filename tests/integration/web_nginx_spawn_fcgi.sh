#!/usr/bin/env bash
# web_nginx_spawn_fcgi.sh: web_nginx.sh (the HTTP contract through nginx
# from examples/) with the pool started as
# examples/systemd/wsb-handler-spawn-fcgi.service starts it: spawn-fcgi
# creates the socket and hands it to `wsb-handler --workers N` on standard
# input.
W_UNIT=wsb-handler-spawn-fcgi.service
. "$(dirname "$0")/web_nginx.sh"
