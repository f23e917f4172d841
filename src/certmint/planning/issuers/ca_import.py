"""Importing an existing root CA into a selfSigned issuer (spec.selfSigned.importFrom), as pure
decisions: where the source Secret may be read from, and whether what it holds may become the
issuer's current CA.

Who could abuse it, and why they cannot:
- a tenant who may create Issuers names a Secret of another namespace: an Issuer imports only from
  its own namespace, refused before anything is read (`import_source`);
- a tenant names a Secret of its own namespace it may not read (a CA someone else put there), to
  have certmint copy the key into a Secret the tenant can use: the source must carry
  certmint.dev/allow-import-by: <Kind>/<issuer name>, which only someone allowed to write that
  Secret can set (`plan_import`), so the import exposes nothing its writer did not offer;
- a hostile Secret (a huge tls.crt, many blocks, an RSA-8192 key, a leaf, a CA that is not
  self-signed, a key that does not match): sizes and block counts are checked before anything is
  decoded, the key's size from its header before it is loaded, and every refusal says which rule
  failed, never what the key holds. `plan_import` does the cryptography: the operator runs it off
  the event loop.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509

from certmint.api import Issuer
from certmint.api.kinds import CLUSTER_ISSUERS
from certmint.pki import (
    CertificateAuthority,
    PKIError,
    is_ca,
    issued_by,
    key_matches_certificate,
    load_certificates_pem,
    load_private_key_pem,
)
from certmint.pki.ca import require_valid_at
from certmint.pki.keys import MAX_KEY_PEM_BYTES
from certmint.pki.pem import require_pem_blocks_within_limit
from certmint.planning import labels, reasons
from certmint.planning.issuers.ca import CAUnusable

MAX_IMPORT_CERTIFICATE_BYTES: Final = 16 * 1024
"""A source's tls.crt holds one root certificate, a few KiB at most (RSA 4096 with long names):
anything larger is refused before it is decoded."""


@dataclass(frozen=True)
class ImportSource:
    """The Secret an issuer imports its first CA from."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ImportCA:
    """The source's CA may become the issuer's current CA."""

    ca: CertificateAuthority
    source: ImportSource


def import_permission(kind: str, issuer_name: str) -> str:
    """The value of certmint.dev/allow-import-by that lets this issuer import a Secret."""
    return f"{kind}/{issuer_name}"


def import_source(
    issuer: Issuer, kind: str, issuer_namespace: str, operator_namespace: str
) -> ImportSource | CAUnusable | None:
    """Where the issuer imports its CA from (None: it does not import). An Issuer only from its
    own namespace: any other is refused here, before the Secret is read. A ClusterIssuer from the
    namespace it names, by default the operator's (where its CA Secret lives too)."""
    self_signed = issuer.spec.self_signed
    if self_signed is None or self_signed.import_from is None:
        return None
    spec = self_signed.import_from
    if kind == CLUSTER_ISSUERS.kind:
        return ImportSource(spec.namespace or operator_namespace, spec.name)
    if spec.namespace is not None and spec.namespace != issuer_namespace:
        return CAUnusable(
            reasons.CA_IMPORT_NOT_ALLOWED,
            f"importFrom names namespace {spec.namespace}: an Issuer imports a CA only from a Secret of "
            f"its own namespace ({issuer_namespace}); use a ClusterIssuer to import from another",
        )
    return ImportSource(issuer_namespace, spec.name)


def plan_import(
    kind: str,
    issuer_name: str,
    source: ImportSource,
    annotations: Mapping[str, str] | None,
    data: Mapping[str, bytes],
    now: datetime,
) -> ImportCA | CAUnusable:
    """Whether the source Secret (`annotations` None: it does not exist) invites this issuer and
    holds a root CA certmint can keep: one self-signed CA certificate, valid now, and its key of a
    type and size certmint supports. Cheap checks first; the key's full validation (RSA primality)
    last, only for a key that matches the certificate."""
    where = f"Secret {source}"
    if annotations is None:
        return CAUnusable(
            reasons.CA_IMPORT_SOURCE_NOT_FOUND,
            f"{where} to import the CA from not found; it is read again with backoff",
        )
    permission = import_permission(kind, issuer_name)
    if annotations.get(labels.ALLOW_IMPORT_BY) != permission:
        return CAUnusable(
            reasons.CA_IMPORT_NOT_ALLOWED,
            f"{where} does not allow {permission} to import it. Someone allowed to edit the Secret "
            f"runs: kubectl annotate secret -n {source.namespace} {source.name} "
            f"{labels.ALLOW_IMPORT_BY}={permission}",
        )
    try:
        return ImportCA(_root_ca(data.get("tls.crt", b""), data.get("tls.key", b""), now), source)
    except PKIError as error:
        return CAUnusable(_REASONS.get(error.reason, reasons.CA_IMPORT_INVALID), f"{where}: {error.message}")


# PKI failure reasons as an import refusal reports them; anything else is CAImportInvalid.
_REASONS = {
    reasons.NOT_A_CA: reasons.NOT_A_CA,
    reasons.KEY_MISMATCH: reasons.CA_KEY_MISMATCH,
    reasons.CA_EXPIRED: reasons.CA_EXPIRED,
    reasons.CA_NOT_SELF_SIGNED: reasons.CA_NOT_SELF_SIGNED,
}


def _root_ca(certificate_pem: bytes, key_pem: bytes, now: datetime) -> CertificateAuthority:
    """PKIError for anything but one self-signed CA certificate, valid at `now`, and its key."""
    if not certificate_pem or not key_pem:
        raise PKIError(reasons.CA_IMPORT_INVALID, "must hold tls.crt and tls.key")
    if len(certificate_pem) > MAX_IMPORT_CERTIFICATE_BYTES:
        raise PKIError(
            reasons.CA_IMPORT_INVALID,
            f"tls.crt is {len(certificate_pem)} bytes; a root CA certificate is at most "
            f"{MAX_IMPORT_CERTIFICATE_BYTES}",
        )
    if len(key_pem) > MAX_KEY_PEM_BYTES:
        raise PKIError(
            reasons.CA_IMPORT_INVALID,
            f"tls.key is {len(key_pem)} bytes; a private key certmint accepts is at most {MAX_KEY_PEM_BYTES}",
        )
    try:
        require_pem_blocks_within_limit(certificate_pem, 1)
    except PKIError as error:
        raise PKIError(
            reasons.CA_IMPORT_INVALID,
            "tls.crt must hold exactly one certificate, the root CA (not its leaves or a chain)",
        ) from error
    certificate = load_certificates_pem(certificate_pem, 1)[0]
    if not is_ca(certificate):
        raise PKIError(
            reasons.NOT_A_CA, "certificate is not a CA (needs basicConstraints CA:TRUE and keyCertSign)"
        )
    if not _self_signed(certificate):
        raise PKIError(
            reasons.CA_NOT_SELF_SIGNED,
            f"CA {certificate.subject.rfc4514_string()} is not self-signed (issuer "
            f"{certificate.issuer.rfc4514_string()}): only a root CA can be imported, as certmint's "
            "rotation replaces it with a root of its own",
        )
    require_valid_at(certificate, now)
    # The header first: an unsupported or oversized key is refused before it is loaded.
    key = load_private_key_pem(key_pem, validate=False)
    if not key_matches_certificate(key, certificate):
        raise PKIError(reasons.KEY_MISMATCH, "tls.key is not the key of the CA certificate in tls.crt")
    # Only now the full validation: it runs once per import, not on each retry of a mismatch.
    return CertificateAuthority(certificate, load_private_key_pem(key_pem, validate=True))


def _self_signed(certificate: x509.Certificate) -> bool:
    """Subject and issuer the same, and its signature made by its own key."""
    return certificate.issuer == certificate.subject and issued_by(certificate, certificate)
