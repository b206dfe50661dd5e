#!/usr/bin/env bash
# Makes a development CA and certificates for a tscache cluster with openssl:
#
#   scripts/dev-certs.sh [OUTDIR] [NAME ...]
#
#   OUTDIR/ca.pem, ca.key        the cluster's CA (TLS_CA); keep ca.key to sign more
#   OUTDIR/node.pem, node.key    one node certificate (TLS_CERT, TLS_KEY) valid for every node:
#                                the Compose names cache1..cache3, deploy/k8s's Service and
#                                pod names (namespace default), localhost, 127.0.0.1, ::1 and each extra NAME (a DNS name
#                                or an IP); usable as server and as client (peers use it both ways)
#   OUTDIR/client.pem, client.key  a client certificate (CN=client) for TLS_CLIENT_AUTH=request|require
#
# OUTDIR defaults to ./certs. Keys are EC P-256 and readable by everyone (0644) so that a container
# running as another user can read a mounted copy: these are for development and tests only.
# An existing OUTDIR/ca.pem and ca.key are reused (new node and client certificates are signed by
# the same CA), so running the script again rotates the certificates but not the CA.
set -euo pipefail

out=${1:-certs}
shift || true
mkdir -p "$out"
cd "$out"

days=825
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 0644 "$1"; }

if [[ ! -s ca.pem || ! -s ca.key ]]; then
  key ca.key
  openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/CN=tscache development CA $(date +%s%N)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem 2>/dev/null
fi

sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:cache1,DNS:cache2,DNS:cache3"
# deploy/k8s: the client Service (tscache) and each pod's name on the headless Service (tscache-N.tscache-peers).
sans+=",DNS:tscache,DNS:tscache.default.svc.cluster.local,DNS:*.tscache-peers,DNS:*.tscache-peers.default.svc.cluster.local"
for n in "$@"; do
  if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then sans+=",IP:$n"; else sans+=",DNS:$n"; fi
done

# sign NAME CN EXTENDED_KEY_USAGE [SANS]
sign() {
  local name=$1 cn=$2 eku=$3 san=${4:-}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$tmp/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [[ -n $san ]]; then echo "subjectAltName=$san"; fi
  } >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -CAserial "$tmp/serial" \
    -days "$days" -sha256 -extfile "$tmp/$name.ext" -out "$name.pem" 2>/dev/null
}

sign node "tscache node" serverAuth,clientAuth "$sans"
sign client client clientAuth
echo "wrote $(pwd)/{ca,node,client}.{pem,key}"
