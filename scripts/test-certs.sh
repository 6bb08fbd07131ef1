#!/usr/bin/env bash
# Makes throwaway TLS material for the HTTPS tests in DIR (created if missing), with openssl:
#   ca.pem                      a CA, and server.pem / server.key, a certificate it signed for 127.0.0.1 and localhost
#   agent-ca.pem                the CA agents' client certificates come from, and agent.pem / agent.key, one it signed
#   stranger.pem / stranger.key a client certificate from a CA the server does not know
# Valid for two days; nothing here is a secret worth keeping.
set -euo pipefail
dir=${1:?usage: scripts/test-certs.sh DIR}
command -v openssl >/dev/null || { echo "openssl is not installed; install it as root: apt-get install -y openssl" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" -keyout "$1.key" -out "$1.pem" 2>/dev/null; }
# $1 name, $2 CA, $3 subject, $4 extensions
leaf() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$3" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
ca ca "Slipway test CA"
ca agent-ca "Slipway test agent CA"
ca stranger-ca "Someone else's CA"
leaf server ca 127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf agent agent-ca "inst-test" "extendedKeyUsage=clientAuth"
leaf stranger stranger-ca "inst-stranger" "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
