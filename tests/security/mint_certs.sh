#!/usr/bin/env bash
# Mints the certificates the TLS tests use, with the openssl command, into
# DIR: a CA, the daemon's certificate (SAN IP:127.0.0.1), clients "a" and
# "b" (SAN URI spiffe://sockwire.test/a and /b), a client "dns" with only a
# DNS SAN, a client signed by another CA, and an expired client of the CA.
set -euo pipefail
dir=$1
cd "$dir"
q() { "$@" >/dev/null 2>&1; }

ca() {  # name
  q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.pem" -days 2 -subj "/CN=sockwire test $1"
}
leaf() {  # name ca subject-cn extension-line
  q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$3"
  printf '%s\n' "$4" > "$1.ext"
  q openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 2 -extfile "$1.ext"
}

ca ca
ca otherca
leaf server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost"
leaf a ca client-a "subjectAltName=URI:spiffe://sockwire.test/a"
leaf b ca client-b "subjectAltName=URI:spiffe://sockwire.test/b"
leaf dns ca client-dns "subjectAltName=DNS:app.sockwire.test"
leaf stranger otherca client-a "subjectAltName=URI:spiffe://sockwire.test/a"

# Expired: `openssl ca` takes explicit dates (x509 -req cannot go back).
mkdir -p expired-ca && : > expired-ca/index.txt && echo 1000 > expired-ca/serial
cat > expired-ca/ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = $dir/expired-ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
CNF
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout expired.key -out expired.csr \
  -subj "/CN=client-expired" -addext "subjectAltName=URI:spiffe://sockwire.test/a"
q openssl ca -batch -config expired-ca/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
  -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z
echo minted
