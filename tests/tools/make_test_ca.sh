#!/bin/sh
# make_test_ca.sh OUTDIR - create throw-away TLS material for wsbalancer tests.
#
# Produces in OUTDIR (EC P-256 keys, so it is quick):
#   ca.pem, ca.key               a test CA
#   server.pem, server.key       server cert for DNS:localhost, IP:127.0.0.1,
#                                IP:::1, signed by the test CA
#   untrusted.pem, untrusted.key self-signed cert for the same names (a client
#                                trusting only ca.pem must reject it)
# Idempotent: if all six files exist and server.pem verifies against ca.pem,
# nothing is regenerated.  Needs only the openssl command line tool.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
OUT=$1
mkdir -p "$OUT"
cd "$OUT"

all_present() {
    for f in ca.pem ca.key server.pem server.key untrusted.pem untrusted.key; do
        [ -s "$f" ] || return 1
    done
    openssl verify -CAfile ca.pem server.pem >/dev/null 2>&1
}

if all_present; then
    exit 0
fi

umask 077
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mktestca.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM

SAN="subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# CA
newkey "$TMP/ca.key"
openssl req -x509 -new -key "$TMP/ca.key" -sha256 -days 3650 \
    -subj "/CN=wsbalancer test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$TMP/ca.pem"

# Server certificate signed by the CA
newkey "$TMP/server.key"
openssl req -new -key "$TMP/server.key" -subj "/CN=localhost" -out "$TMP/server.csr"
cat > "$TMP/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
$SAN
EOF
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
    -CAcreateserial -CAserial "$TMP/ca.srl" -sha256 -days 825 \
    -extfile "$TMP/server.ext" -out "$TMP/server.pem" 2>/dev/null

# Untrusted self-signed certificate for the same names
newkey "$TMP/untrusted.key"
openssl req -x509 -new -key "$TMP/untrusted.key" -sha256 -days 825 \
    -subj "/CN=localhost" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -addext "$SAN" \
    -out "$TMP/untrusted.pem"

openssl verify -CAfile "$TMP/ca.pem" "$TMP/server.pem" >/dev/null

for f in ca.key server.key untrusted.key; do
    chmod 600 "$TMP/$f"
done
for f in ca.pem server.pem untrusted.pem; do
    chmod 644 "$TMP/$f"
done
for f in ca.pem ca.key server.pem server.key untrusted.pem untrusted.key; do
    mv -f "$TMP/$f" "./$f"
done
