#!/bin/sh
# mkcerts.sh DIR: a throw-away CA and an espprovd server certificate for
# 127.0.0.1 and localhost (both client test suites; openssl from Debian).
# Writes DIR/ca.pem, DIR/server.pem, DIR/server.key, DIR/other-ca.pem (a CA
# that did not sign the server certificate).
set -eu
d=$1
cd "$d"
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -days 2 -subj /CN=espprov-test-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 $ec -days 2 -subj /CN=espprov-other-ca -keyout other-ca.key -out other-ca.pem 2>/dev/null
openssl req $ec -subj /CN=espprovd -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl ca.key other-ca.key
