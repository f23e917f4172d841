"""PEM blobs of certificates, in and out."""

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki.errors import INVALID_CERTIFICATE, TOO_MANY_PEM_BLOCKS, PKIError

MAX_PEM_BLOCKS = 512
"""Most PEM blocks certmint decodes from one input (a Secret's tls.crt or ca.crt, a bundle source, a
CSR's certificate, stored CRLs). A public root store holds about 150 CAs; a chain, a handful. Past
this, the input is refused before any block is decoded: each costs a parse, and a 1 MiB Secret of
tiny blocks would otherwise cost thousands on every reconcile."""

_BEGIN, _END, _DASHES = b"-----BEGIN ", b"-----END ", b"-----"


def require_pem_blocks_within_limit(data: bytes, limit: int = MAX_PEM_BLOCKS) -> None:
    """Counts BEGIN markers (one linear scan), so it runs before anything is decoded."""
    blocks = data.count(_BEGIN)
    if blocks > limit:
        raise PKIError(TOO_MANY_PEM_BLOCKS, f"PEM data holds {blocks} blocks; certmint reads at most {limit}")


@dataclass(frozen=True)
class PEMBlock:
    label: bytes
    body: bytes
    """Between the BEGIN and END lines: base64, perhaps with RFC 1421 headers."""
    text: bytes
    """The whole block, BEGIN and END lines included."""


def pem_blocks(data: bytes, limit: int = MAX_PEM_BLOCKS) -> list[PEMBlock]:
    """The PEM blocks of `data` in order. More than `limit` BEGIN lines raise PKIError
    (TooManyPEMBlocks) before anything is decoded, and an END line is searched at most once per
    label: a megabyte of unterminated BEGIN lines costs at most `limit` scans, not one per line."""
    require_pem_blocks_within_limit(data, limit)
    blocks = []
    unterminated: set[bytes] = set()
    position = data.find(_BEGIN)
    while position >= 0:
        label_start = position + len(_BEGIN)
        label_end = data.find(_DASHES, label_start)
        if label_end < 0:
            break
        label = data[label_start:label_end]
        end_marker = _END + label + _DASHES
        body_start = label_end + len(_DASHES)
        end = -1 if label in unterminated else data.find(end_marker, body_start)
        if end < 0 or b"\n" in label:
            unterminated.add(label)
            position = data.find(_BEGIN, label_start)
            continue
        stop = end + len(end_marker)
        blocks.append(PEMBlock(label, data[body_start:end], data[position:stop]))
        position = data.find(_BEGIN, stop)
    return blocks


def load_certificates_pem(
    data: bytes, limit: int = MAX_PEM_BLOCKS, *, first_only: bool = False
) -> list[x509.Certificate]:
    """Every certificate in a PEM blob, in order; only the first when `first_only` (a leaf whose
    chain is not read: the rest are never parsed). PKIError: InvalidCertificate, or
    TooManyPEMBlocks beyond `limit` blocks."""
    certificates = [block.text for block in pem_blocks(data, limit) if block.label == b"CERTIFICATE"]
    if not certificates:
        raise PKIError(INVALID_CERTIFICATE, "no PEM certificate found")
    if first_only:
        certificates = certificates[:1]
    try:
        return [x509.load_pem_x509_certificate(text) for text in certificates]
    except ValueError as error:
        # cryptography's message points at its FAQ; the user needs to know which data is broken.
        raise PKIError(INVALID_CERTIFICATE, "malformed PEM certificate data") from error


def certificates_to_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)
