"""What planning knows of a Certificate's Secret, taken from its data once and then kept without it.

The operator builds a view from every watch event of a Secret it manages and plans from the views
alone, so neither a restart nor a resync reads Secrets one by one. A view holds the certificate (public)
and facts about the private key (its kind, whether it belongs to the certificate), never the key:
memory stays flat at tens of thousands of Secrets and no key material outlives the event.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from sys import intern

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from certmint.pki import (
    KeySpec,
    PKIError,
    key_matches_certificate,
    key_spec_of,
    load_certificates_pem,
    load_private_key_pem,
)
from certmint.planning import reasons
from certmint.planning.contest import DataWriter
from certmint.planning.labels import CERT_MANAGER_PREFIX

TLS_SECRET_TYPE = "kubernetes.io/tls"


@dataclass(frozen=True)
class SecretContents:
    """tls.crt and tls.key as planning needs them."""

    certificate_der: bytes
    """The first certificate of tls.crt: the leaf."""
    key_spec: KeySpec
    key_matches: bool
    """Whether tls.key is the private key of that certificate."""


@dataclass(frozen=True)
class Unusable:
    """Why tls.crt and tls.key hold no certificate to keep: re-issued with this reason."""

    reason: str
    message: str


_NONE: frozenset[str] = frozenset()
"""Shared by the views of every Secret without cert-manager annotations of certmint's."""

NO_DATA = Unusable(reasons.SECRET_INVALID, "Secret has no tls.crt or tls.key")


@dataclass(frozen=True)
class SecretView:
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owner_uids: frozenset[str] = frozenset()
    """UIDs of its ownerReferences."""
    writers: tuple[DataWriter, ...] = ()
    """From managedFields: who last wrote which data keys."""
    present_keys: frozenset[str] = frozenset()
    """Data keys with a non-empty value."""
    contents: SecretContents | Unusable = NO_DATA
    secret_type: str = TLS_SECRET_TYPE
    resource_version: str = ""
    written_cert_manager_annotations: frozenset[str] = frozenset()
    """The cert-manager.io/ annotations certmint's field manager owns (from managedFields): those to
    remove when certManagerAnnotations is turned off. Only these: a view keeps no other key lists."""


def view_secret(
    name: str,
    data: Mapping[str, bytes],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    owner_uids: frozenset[str] = frozenset(),
    writers: tuple[DataWriter, ...] = (),
    secret_type: str = TLS_SECRET_TYPE,
    resource_version: str = "",
    contents: SecretContents | Unusable | None = None,
    certmint_annotations: frozenset[str] = frozenset(),
) -> SecretView:
    """`contents`: already known (what we just wrote), so the data need not be parsed again. Keys
    (and label values: roles) are interned: the same dozen strings in every one of 10,000 views.
    `certmint_annotations`: the annotation keys certmint's field manager owns (managedFields)."""
    written_cert_manager = frozenset(
        intern(key) for key in certmint_annotations if key.startswith(CERT_MANAGER_PREFIX)
    )
    return SecretView(
        name=name,
        labels={intern(key): intern(value) for key, value in labels.items()},
        annotations={intern(key): value for key, value in annotations.items()},
        owner_uids=owner_uids,
        writers=writers,
        present_keys=frozenset(intern(key) for key, value in data.items() if value),
        contents=contents if contents is not None else read_contents(data),
        secret_type=secret_type,
        resource_version=resource_version,
        written_cert_manager_annotations=written_cert_manager or _NONE,
    )


def read_contents(data: Mapping[str, bytes]) -> SecretContents | Unusable:
    cert_pem = data.get("tls.crt")
    key_pem = data.get("tls.key")
    if not cert_pem or not key_pem:
        missing = [key for key in ("tls.crt", "tls.key") if not data.get(key)]
        return Unusable(reasons.SECRET_INVALID, f"Secret has no {' or '.join(missing)}")
    try:
        # Only the leaf is read: a tenant's tls.crt of hundreds of blocks costs one parse.
        certificate = load_certificates_pem(cert_pem, first_only=True)[0]
    except PKIError as error:
        return Unusable(reasons.SECRET_INVALID, f"tls.crt cannot be parsed: {error.message}")
    try:
        # Its size from the header first (an RSA-8192 key is refused in microseconds), and no
        # RSA primality validation: the view compares only its public half to the certificate.
        private_key = load_private_key_pem(key_pem, validate=False)
    except PKIError as error:
        return Unusable(reasons.SECRET_INVALID, f"tls.key cannot be parsed: {error.message}")
    try:
        matches = key_matches_certificate(private_key, certificate)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Views are made in the watch's event handler: a tenant's odd certificate must not break it.
        return Unusable(reasons.SECRET_INVALID, "tls.crt has a public key certmint cannot read")
    return SecretContents(
        certificate_der=certificate.public_bytes(Encoding.DER),
        key_spec=key_spec_of(private_key),
        key_matches=matches,
    )
