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
# Usage: check-signature.sh EVIDENCE_ROOT RELATIVE_MANIFEST_PATH PUBLIC_KEY_PEM
#   EVIDENCE_ROOT   a local copy of the evidence (e.g. `aws s3 cp --recursive s3://bucket/prefix root`)
#   RELATIVE_...    e.g. aircall/reports/date=2026-11-26/manifest.json (or manifest.attempt-2.json)
#   PUBLIC_KEY_PEM  the .pub file from `aircall-pipeline keygen`, or a KMS key's public key:
#                   aws kms get-public-key --key-id ID --query PublicKey --output text | base64 -d > k.der
#                   openssl pkey -pubin -inform DER -in k.der -out k.pem
# Exit status: 0 the signature is valid for this file at this path under this key; 1 it is not,
# or there is no signature file; 2 usage, or a manifest or key that cannot be read.
# Needs: sh, openssl (1.1.1 or later), wc, sed, cut.
set -eu

if [ $# -ne 3 ]; then
  echo "usage: $0 EVIDENCE_ROOT RELATIVE_MANIFEST_PATH PUBLIC_KEY_PEM" >&2
  exit 2
fi
root=$1 relative=$2 public_key=$3
manifest="$root/$relative"
signature_file="${manifest%.json}.sig"
for file in "$manifest" "$public_key"; do
  [ -r "$file" ] || { echo "cannot read $file" >&2; exit 2; }
done
[ -r "$signature_file" ] || { echo "UNSIGNED: $relative has no signature file ($signature_file)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
size=$(wc -c < "$manifest" | tr -d ' ')
sha256=$(openssl dgst -sha256 -r "$manifest" | cut -d ' ' -f 1)
printf 'aircall-evidence-signature/1\n%s\n%s\n%s\n' "$relative" "$size" "$sha256" > "$work/statement"
# The .sig file is JSON written by this project with one key per line: "signature": "<base64>".
sed -n 's/^ *"signature": "\([A-Za-z0-9+/=]*\)",\{0,1\}$/\1/p' "$signature_file" > "$work/signature.b64"
[ -s "$work/signature.b64" ] || { echo "no signature found in $signature_file" >&2; exit 1; }
openssl base64 -d -A -in "$work/signature.b64" -out "$work/signature"

if openssl pkey -pubin -in "$public_key" -noout -text 2>/dev/null | grep -q '^ED25519'; then
  # Ed25519 signs the statement itself (no separate digest): pkeyutl with -rawin.
  set -- openssl pkeyutl -verify -pubin -inkey "$public_key" -rawin -in "$work/statement" -sigfile "$work/signature"
else
  # ECDSA P-256 with SHA-256 (AWS KMS ECDSA_SHA_256), DER-encoded as KMS returns it.
  set -- openssl dgst -sha256 -verify "$public_key" -signature "$work/signature" "$work/statement"
fi
if "$@" > "$work/out" 2>&1; then
  echo "VALID: $relative ($size bytes, sha256 $sha256) is signed by $public_key"
  exit 0
fi
echo "INVALID: the signature of $relative does not match this file at this path under $public_key" >&2
exit 1
