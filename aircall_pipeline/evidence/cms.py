"""The little of DER and CMS (RFC 5652) that a timestamp token needs, read strictly.

`rfc3161-client` checks a token's signature only together with a chain to a trusted root (OpenSSL's
PKCS7_verify). When `verify` has no root for a TSA, or the chain fails, it still has to tell a
token whose signature is valid under its own embedded certificate ("genuine, but from a TSA you do
not trust") from a forged or damaged one; that check is here: the signer's `messageDigest` attribute
must be the digest of the content, and the signature over the signed attributes must verify with the
signer certificate's public key. Nothing here decides trust.

Only definite-length DER is accepted (indefinite lengths, high tag numbers and trailing bytes are
errors), so there is exactly one reading of any input. Every failure is a `CmsError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SEQUENCE, SET, INTEGER, OCTET_STRING, OID = 0x30, 0x31, 0x02, 0x04, 0x06
CONTEXT_0, CONTEXT_1, CONTEXT_0_PRIMITIVE = 0xA0, 0xA1, 0x80
SIGNED_DATA = "1.2.840.113549.1.7.2"
CONTENT_TYPE_ATTR = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_ATTR = "1.2.840.113549.1.9.4"
DIGESTS = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
ECDSA_WITH = {"1.2.840.10045.4.3.2": hashes.SHA256, "1.2.840.10045.4.3.3": hashes.SHA384,
              "1.2.840.10045.4.3.4": hashes.SHA512}
RSA_WITH = {"1.2.840.113549.1.1.11": hashes.SHA256, "1.2.840.113549.1.1.12": hashes.SHA384,
            "1.2.840.113549.1.1.13": hashes.SHA512}
EC_PUBLIC_KEY, RSA_ENCRYPTION, ED25519 = "1.2.840.10045.2.1", "1.2.840.113549.1.1.1", "1.3.101.112"


class CmsError(ValueError):
    """Not a well-formed token, or its signature does not verify under its own signer certificate."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    data: bytes  # the whole input the element lives in
    start: int  # of the tag byte
    body: int  # first content byte
    end: int  # one past the last content byte

    @property
    def content(self) -> bytes:
        return self.data[self.body:self.end]

    @property
    def encoded(self) -> bytes:
        return self.data[self.start:self.end]

    def children(self) -> list[Tlv]:
        out, pos = [], self.body
        while pos < self.end:
            child = read(self.data, pos, self.end)
            out.append(child)
            pos = child.end
        return out


def read(data: bytes, pos: int, end: int) -> Tlv:
    """The element starting at `pos`, which must end by `end`."""
    if pos + 2 > end:
        raise CmsError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise CmsError("unexpected high-numbered DER tag")
    body = pos + 2
    if first == 0x80 or first == 0xFF:
        raise CmsError("indefinite or reserved DER length")
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4 or body + count > end:
            raise CmsError("truncated or oversized DER length")
        length = int.from_bytes(data[body:body + count], "big")
        body += count
    if body + length > end:
        raise CmsError("truncated DER")
    return Tlv(tag, data, pos, body, body + length)


def parse(data: bytes) -> Tlv:
    """The single element `data` holds, with no trailing bytes."""
    element = read(data, 0, len(data))
    if element.end != len(data):
        raise CmsError("trailing bytes after the DER element")
    return element


def expect(element: Tlv, tag: int, what: str) -> Tlv:
    if element.tag != tag:
        raise CmsError(f"{what}: expected DER tag 0x{tag:02x}, found 0x{element.tag:02x}")
    return element


def fields(element: Tlv, tag: int, what: str, minimum: int) -> list[Tlv]:
    children = expect(element, tag, what).children()
    if len(children) < minimum:
        raise CmsError(f"{what}: {len(children)} fields, expected at least {minimum}")
    return children


def only(element: Tlv, tag: int, what: str) -> Tlv:
    """The single element inside an explicit tag such as [0]."""
    children = expect(element, tag, what).children()
    if len(children) != 1:
        raise CmsError(f"{what}: expected one element, found {len(children)}")
    return children[0]


def oid(element: Tlv) -> str:
    raw = expect(element, OID, "object identifier").content
    if not raw or raw[-1] & 0x80 or len(raw) > 64:
        raise CmsError("malformed object identifier")
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def integer(element: Tlv) -> int:
    raw = expect(element, INTEGER, "integer").content
    if not raw:
        raise CmsError("empty integer")
    return int.from_bytes(raw, "big", signed=True)


def status_and_token(response: bytes) -> tuple[int, bytes | None]:
    """A TimeStampResp (RFC 3161 section 2.4.2): its PKIStatus, and its token (a ContentInfo) if any."""
    parts = fields(parse(response), SEQUENCE, "TimeStampResp", 1)
    if len(parts) > 2:
        raise CmsError("TimeStampResp: unexpected fields")
    status = integer(fields(parts[0], SEQUENCE, "PKIStatusInfo", 1)[0])
    return status, parts[1].encoded if len(parts) == 2 else None


@dataclass(frozen=True)
class SignedContent:
    content_type: str
    content: bytes
    signer: x509.Certificate


def verify_signed_data(token: bytes) -> SignedContent:
    """The content of a CMS SignedData `token` and its signer, after checking the one signer's
    signature with the certificate embedded in the token (see the module doc)."""
    info = fields(parse(token), SEQUENCE, "ContentInfo", 2)
    if oid(info[0]) != SIGNED_DATA:
        raise CmsError("the token is not CMS SignedData")
    signed = fields(only(info[1], CONTEXT_0, "ContentInfo content"), SEQUENCE, "SignedData", 4)
    encap = fields(signed[2], SEQUENCE, "EncapsulatedContentInfo", 2)
    content_type = oid(encap[0])
    content = expect(only(encap[1], CONTEXT_0, "eContent"), OCTET_STRING, "eContent").content
    # Between encapContentInfo and signerInfos: [0] certificates and [1] crls, both optional.
    certificates = [_certificate(c) for extra in signed[3:-1] if extra.tag == CONTEXT_0 for c in extra.children()]
    signer_infos = expect(signed[-1], SET, "SignerInfos").children()
    if len(signer_infos) != 1:
        raise CmsError(f"expected exactly one SignerInfo, found {len(signer_infos)}")
    si = fields(signer_infos[0], SEQUENCE, "SignerInfo", 6)
    signer = _signer(si[1], certificates)
    digest = _digest(si[2])
    attributes = expect(si[3], CONTEXT_0, "signedAttrs")
    found = {}
    for attribute in attributes.children():
        kind, values = fields(attribute, SEQUENCE, "Attribute", 2)
        found[oid(kind)] = expect(values, SET, "attribute values").children()
    if [oid(v) for v in found.get(CONTENT_TYPE_ATTR, [])] != [content_type]:
        raise CmsError("the signed contentType attribute does not name the content")
    digests = [expect(v, OCTET_STRING, "messageDigest").content for v in found.get(MESSAGE_DIGEST_ATTR, [])]
    if digests != [_hash(digest, content)]:
        raise CmsError("the signed messageDigest is not the digest of the content")
    # RFC 5652 section 5.4: the signature covers the attributes encoded as a SET, not as [0].
    signed_attrs = bytes([SET]) + attributes.encoded[1:]
    _check_signature(signer, oid(fields(si[4], SEQUENCE, "signatureAlgorithm", 1)[0]), digest,
                     expect(si[5], OCTET_STRING, "signature").content, signed_attrs)
    return SignedContent(content_type, content, signer)


def _certificate(element: Tlv) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(element.encoded)
    except ValueError as exc:
        raise CmsError(f"an embedded certificate is not readable ({exc})") from None


def _digest(algorithm: Tlv) -> type[hashes.HashAlgorithm]:
    name = oid(fields(algorithm, SEQUENCE, "digestAlgorithm", 1)[0])
    if name not in DIGESTS:
        raise CmsError(f"unsupported digest algorithm {name} (SHA-256, SHA-384 or SHA-512 expected)")
    return DIGESTS[name]


def _hash(algorithm: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    h = hashes.Hash(algorithm())
    h.update(data)
    return h.finalize()


def _signer(sid: Tlv, certificates: list[x509.Certificate]) -> x509.Certificate:
    for cert in certificates:
        if sid.tag == SEQUENCE:  # issuerAndSerialNumber
            issuer, serial = fields(sid, SEQUENCE, "issuerAndSerialNumber", 2)[:2]
            # Compared as DER: cryptography re-encodes the certificate's issuer exactly as it read it.
            if cert.issuer.public_bytes() == issuer.encoded and cert.serial_number == integer(serial):
                return cert
        elif sid.tag == CONTEXT_0_PRIMITIVE:  # subjectKeyIdentifier
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.content:
                return cert
    raise CmsError("the token does not embed its signer's certificate")


def _check_signature(cert: x509.Certificate, algorithm: str, digest: type[hashes.HashAlgorithm],
                     signature: bytes, message: bytes) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm in (*ECDSA_WITH, EC_PUBLIC_KEY):
            key.verify(signature, message, ec.ECDSA(ECDSA_WITH.get(algorithm, digest)()))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm in (*RSA_WITH, RSA_ENCRYPTION):
            key.verify(signature, message, padding.PKCS1v15(), RSA_WITH.get(algorithm, digest)())
        elif isinstance(key, ed25519.Ed25519PublicKey) and algorithm == ED25519:
            key.verify(signature, message)
        else:
            raise CmsError(f"unsupported signature algorithm {algorithm} for a {type(key).__name__}")
    except InvalidSignature:
        raise CmsError("the signature does not verify with the token's own signer certificate") from None
    except UnsupportedAlgorithm as exc:
        raise CmsError(f"unsupported signature ({exc})") from None
