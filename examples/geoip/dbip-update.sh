#!/bin/sh
# dbip-update.sh: installs the current DB-IP "IP to City Lite" database
# (free, CC BY 4.0: show "IP Geolocation by DB-IP" with attribution,
# https://db-ip.com/db/lite.php) as an .mmdb file that wsb-handler reads:
#     WSB_GEOIP_DB=/var/lib/GeoIP/dbip-city-lite.mmdb
# Run it monthly (examples/cron/geoipupdate).  It downloads this month's
# file (or last month's, early in a month), checks that it opens as a
# MaxMind DB (mmdblookup, Debian mmdb-bin), and renames it over the old
# one, so running handlers switch to it within WSB_GEOIP_CHECK_MS and never
# see a half-written file.  On any failure the old file stays and the exit
# status is 1, with the reason on stderr.
#   DBIP_TARGET    the installed file (default /var/lib/GeoIP/dbip-city-lite.mmdb)
#   DBIP_BASE_URL  where the files are (default https://download.db-ip.com/free)
set -eu
target=${DBIP_TARGET:-/var/lib/GeoIP/dbip-city-lite.mmdb}
base=${DBIP_BASE_URL:-https://download.db-ip.com/free}
dir=$(dirname "$target")
tmp=$(mktemp "$dir/.dbip-update.XXXXXX") || { echo "dbip-update: cannot write in $dir" >&2; exit 1; }
trap 'rm -f "$tmp" "$tmp.gz"' EXIT

fetched=""
for month in "$(date -u +%Y-%m)" "$(date -u -d "$(date -u +%Y-%m-01) - 1 month" +%Y-%m)"; do
    url="$base/dbip-city-lite-$month.mmdb.gz"
    if curl -fsS --max-time 300 -o "$tmp.gz" "$url" 2>/dev/null; then
        fetched=$url
        break
    fi
done
[ -n "$fetched" ] || { echo "dbip-update: no database for this or last month under $base" >&2; exit 1; }
gzip -dc "$tmp.gz" > "$tmp" || { echo "dbip-update: $fetched: not a gzip file" >&2; exit 1; }
if command -v mmdblookup >/dev/null 2>&1; then
    # 0: found, 6: no entry for that address; anything else: broken.
    rc=0; mmdblookup --file "$tmp" --ip 1.1.1.1 >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 6 ] || { echo "dbip-update: $fetched: does not open as a MaxMind DB" >&2; exit 1; }
fi
chmod 644 "$tmp"
mv -f "$tmp" "$target"
echo "dbip-update: installed $fetched as $target"
