#!/usr/bin/env bash
# mkcerts.sh DIR -- test certificates for the TLS tests, made with the
# openssl command (no network).  Keys are EC P-256 (fast), mode 600.
#   ca.pem ca.key            a CA ("burstq test CA")
#   server.pem server.key    from ca: CN=localhost, SAN IP:127.0.0.1, DNS:localhost
#   renewed.pem renewed.key  from ca: like server.pem with another key (the
#                            pair a SIGHUP reload swaps in)
#   client.pem client.key    from ca: CN=burstq-client (for mutual TLS)
#   ca2.pem ca2.key          another CA ("burstq other CA")
#   other.pem other.key      from ca2: CN=localhost, same SANs (wrong CA)
#   expired.pem expired.key  from ca: like server.pem, valid only in 2001
# Idempotent: DIR/done marks a complete set, which is kept as it is;
# concurrent runs on one DIR are serialised (flock DIR/.lock).
set -euo pipefail
dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
# Concurrent runs on one DIR: one makes the set, the others wait for it.
exec 9>.lock
flock 9
[ -f done ] && exit 0
umask 077
work=$(mktemp -d mkcerts.XXXXXX)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# ca NAME CN: a self-signed CA.
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3650 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign
}

# leaf NAME CN CA SANS: a certificate signed by CA, valid for ten years.
leaf() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$work/$1.csr"
  printf 'basicConstraints=CA:FALSE\n%s\n' "${4:-}" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$3.pem" -CAkey "$3.key" \
    -CAcreateserial -CAserial "$work/$3.srl" -days 3650 \
    -extfile "$work/$1.ext" -out "$1.pem" 2>/dev/null
}

san='subjectAltName=IP:127.0.0.1,DNS:localhost'
ca ca "burstq test CA"
ca ca2 "burstq other CA"
leaf server localhost ca "$san"
leaf renewed localhost ca "$san"
leaf client burstq-client ca ""
leaf other localhost ca2 "$san"

# The expired certificate: openssl x509 (3.0) cannot backdate, openssl ca
# can (-startdate/-enddate), with a throwaway database.
key expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -out "$work/expired.csr"
: >"$work/index.txt"
cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
x509_extensions = ext
[any]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
$san
CNF
echo 01 >"$work/serial"
openssl ca -batch -config "$work/ca.cnf" -cert ca.pem -keyfile ca.key \
  -startdate 20010101000000Z -enddate 20011231000000Z \
  -in "$work/expired.csr" -out expired.pem -notext 2>/dev/null

chmod 644 ./*.pem
touch done
