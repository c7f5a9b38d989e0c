#!/bin/sh
# deps.sh: makes sure the packages that build and test wsbalancer are here.
# As root it installs the missing ones through apt; otherwise it prints the
# exact command to run.
set -eu
PKGS="build-essential pkg-config libfcgi-dev libfcgi-bin libcjson-dev libmaxminddb-dev mmdb-bin
libhiredis-dev redis-server redis-sentinel stunnel4 lighttpd lighttpd-mod-openssl apache2 libapache2-mod-fcgid spawn-fcgi nginx libnss3-tools
libcurl4-openssl-dev libssl-dev curl openssl python3 jq wrk valgrind time
prometheus chromium
dpkg-dev debhelper fakeroot devscripts lintian"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages:$missing" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Installing the servers must not start them on their default ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
