#!/bin/sh
# Checks one evidence manifest's signature with OpenSSL alone, for an auditor who does not want to
# trust this project's own `verify`. It rebuilds the signed statement (evidence/signing.py) from the
# manifest file and the path the auditor fetched it from, never from what the .sig file claims:
#
#   aircall-evidence-signature/1
#   <path of the manifest, relative to the evidence root>
#   <size in bytes>
#   <sha256 hex>
#
# Usage: check-signature.sh EVIDENCE_ROOT RELATIVE_MANIFEST_PATH PUBLIC_KEY_PEM [TSA_CA_PEM]
#   EVIDENCE_ROOT   a local copy of the evidence (e.g. `aws s3 cp --recursive s3://bucket/prefix root`)
#   RELATIVE_...    e.g. aircall/reports/date=2026-11-26/manifest.json (or manifest.attempt-2.json)
#   PUBLIC_KEY_PEM  the .pub file from `aircall-pipeline keygen`, or a KMS key's public key:
#                   aws kms get-public-key --key-id ID --query PublicKey --output text | base64 -d > k.der
#                   openssl pkey -pubin -inform DER -in k.der -out k.pem
#   TSA_CA_PEM      optional: the root certificate(s) of the time-stamping authority (EVIDENCE_TSA_CA).
#                   Given, the RFC 3161 token beside the manifest (manifest.tsr, manifest.attempt-2.tsr)
#                   must exist and verify for the same statement (`openssl ts -verify`), and the time it
#                   proves is printed. Not given, a token that exists is reported as not checked.
# Exit status: 0 the signature (and, with TSA_CA_PEM, the timestamp token) is valid for this file at
# this path; 1 it is not, or there is no signature file (or no token when TSA_CA_PEM is given);
# 2 usage, or an input that cannot be read. No other status is ever returned.
#
# Every input must be a regular file (not a symlink, FIFO, device or directory) of bounded size, and
# is copied once into a private folder before anything reads it: a FIFO named like a manifest cannot
# make the check hang, a symlink to /dev/zero is never read, and the size, the hash and openssl all
# see the same bytes. (A file swapped for a FIFO between the check and the copy is not covered.)
# Needs: sh, openssl (1.1.1 or later), head, wc, tr, sed, cut, grep, mktemp.
set -eu

MANIFEST_CAP=16777216 # 16 MiB: manifests and .sig files
SMALL_CAP=1048576     # 1 MiB: keys, CA files and tokens (a token is a few KiB)

result= work=
finish() {
  result=$1
  shift
  [ $# -eq 0 ] || echo "$*" >&2
  exit "$result"
}
cleanup() {
  code=$?
  [ -z "$work" ] || rm -rf "$work"
  # Only finish() chooses the status: a command that failed under `set -e`, or a signal, is 2.
  if [ -z "$result" ]; then
    echo "$0: unexpected failure (status $code); nothing was established" >&2
    code=2
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 2' HUP INT TERM

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  finish 2 "usage: $0 EVIDENCE_ROOT RELATIVE_MANIFEST_PATH PUBLIC_KEY_PEM [TSA_CA_PEM]"
fi
root=$1 relative=$2 public_key=$3 tsa_ca=${4:-}
[ $# -eq 3 ] || [ -n "$tsa_ca" ] || finish 2 "usage: TSA_CA_PEM, when given, must not be empty"
manifest="$root/$relative"
signature_file="${manifest%.json}.sig"
token_file="${manifest%.json}.tsr"
work=$(mktemp -d)

present() { [ -e "$1" ] || [ -L "$1" ]; }

# copy_in FILE CAP NAME: FILE's bytes into $work/NAME; status 2 unless FILE is a regular file of at
# most CAP bytes.
copy_in() {
  present "$1" || finish 2 "cannot read $1: no such file"
  if [ -L "$1" ] || [ ! -f "$1" ]; then
    finish 2 "refusing $1: not a regular file (symlinks, FIFOs, devices and directories are never read)"
  fi
  head -c "$(($2 + 1))" < "$1" > "$work/$3" 2> /dev/null || finish 2 "cannot read $1"
  copied=$(wc -c < "$work/$3" | tr -d ' ')
  [ "$copied" -le "$2" ] || finish 2 "refusing $1: larger than $2 bytes"
}

copy_in "$manifest" "$MANIFEST_CAP" manifest
copy_in "$public_key" "$SMALL_CAP" key.pem
openssl pkey -pubin -in "$work/key.pem" -noout > /dev/null 2>&1 \
  || finish 2 "cannot read the public key $public_key: not a PEM public key"
[ -z "$tsa_ca" ] || copy_in "$tsa_ca" "$SMALL_CAP" tsa-ca.pem
present "$signature_file" || finish 1 "UNSIGNED: $relative has no signature file ($signature_file)"
copy_in "$signature_file" "$MANIFEST_CAP" signature.json

size=$(wc -c < "$work/manifest" | tr -d ' ')
sha256=$(openssl dgst -sha256 -r "$work/manifest" | cut -d ' ' -f 1)
printf 'aircall-evidence-signature/1\n%s\n%s\n%s\n' "$relative" "$size" "$sha256" > "$work/statement"
# The .sig file is JSON written by this project with one key per line: "signature": "<base64>".
sed -n 's/^ *"signature": "\([A-Za-z0-9+/=]*\)",\{0,1\}$/\1/p' "$work/signature.json" > "$work/signature.b64"
[ -s "$work/signature.b64" ] || finish 1 "no signature found in $signature_file"
openssl base64 -d -A -in "$work/signature.b64" -out "$work/signature" 2> /dev/null \
  || finish 1 "the signature in $signature_file is not base64"

if openssl pkey -pubin -in "$work/key.pem" -noout -text 2> /dev/null | grep -q '^ED25519'; then
  # Ed25519 signs the statement itself (no separate digest): pkeyutl with -rawin.
  set -- openssl pkeyutl -verify -pubin -inkey "$work/key.pem" -rawin -in "$work/statement" -sigfile "$work/signature"
else
  # ECDSA P-256 with SHA-256 (AWS KMS ECDSA_SHA_256), DER-encoded as KMS returns it.
  set -- openssl dgst -sha256 -verify "$work/key.pem" -signature "$work/signature" "$work/statement"
fi
"$@" > "$work/out" 2>&1 \
  || finish 1 "INVALID: the signature of $relative does not match this file at this path under $public_key"

if [ -n "$tsa_ca" ]; then
  present "$token_file" || finish 1 "UNSTAMPED: $relative has no timestamp token ($token_file)"
  copy_in "$token_file" "$SMALL_CAP" token.tsr
  # The token must be over this same statement (its imprint), and signed by a TSA under TSA_CA_PEM.
  openssl ts -verify -data "$work/statement" -in "$work/token.tsr" -CAfile "$work/tsa-ca.pem" > "$work/ts.out" 2>&1 \
    || finish 1 "INVALID: the signature of $relative is valid, but its timestamp token $token_file does not verify for this statement under $tsa_ca"
  stamped=$(openssl ts -reply -in "$work/token.tsr" -text 2> /dev/null | sed -n 's/^Time stamp: //p')
  echo "VALID: $relative ($size bytes, sha256 $sha256) is signed by $public_key"
  echo "TIMESTAMP: the statement existed at ${stamped:-an unreadable time}, attested by a TSA under $tsa_ca"
elif present "$token_file"; then
  echo "VALID: $relative ($size bytes, sha256 $sha256) is signed by $public_key"
  echo "TIMESTAMP: not checked: $token_file exists; give the TSA's root certificate as TSA_CA_PEM to check it"
else
  echo "VALID: $relative ($size bytes, sha256 $sha256) is signed by $public_key"
  echo "TIMESTAMP: none: the time of sealing is not attested"
fi
finish 0
