"""The CA Secret's storage format: how a rotation state (CAMaterial) is written to and read from
the one Secret that holds an issuer's CA keys. Kept apart from the rotation state machine so
either can change without the other."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from certmint.pki import (
    CertificateAuthority,
    PKIError,
    certificates_to_pem,
    encode_private_key_pem,
    key_matches_certificate,
    load_ca,
    load_certificates_pem,
    load_private_key_pem,
)
from certmint.planning.issuers.rotation import CAMaterial

NEXT_CERT, NEXT_KEY, PREVIOUS_CERT, PREVIOUS_KEY = "next.crt", "next.key", "previous.crt", "previous.key"
ACTIVATES_AT: Final = "certmint.dev/next-activates-at"
ACTIVATED_AT: Final = "certmint.dev/activated-at"
RETIRES_AT: Final = "certmint.dev/previous-retires-at"
HANDLED_REQUEST: Final = "certmint.dev/rotation-request-handled"
REQUESTED: Final = "certmint.dev/rotation-requested"
"""On the CA Secret during a requested rotation: the previous CA is retired early."""
IMPORTED_FROM: Final = "certmint.dev/imported-from"
"""On the CA Secret while its current CA is the one imported (spec.selfSigned.importFrom): the
source Secret, namespace/name."""


def read_material(
    current: CertificateAuthority, data: Mapping[str, bytes], annotations: Mapping[str, str], now: datetime
) -> CAMaterial:
    """Slots that cannot be read (a hand-edited Secret) are dropped: the current CA still works."""
    next_ca = None
    if data.get(NEXT_CERT) and data.get(NEXT_KEY):
        try:
            next_ca = load_ca(data[NEXT_CERT], data[NEXT_KEY], now)
        except PKIError:
            next_ca = None
    previous = None
    if data.get(PREVIOUS_CERT):
        try:
            previous = load_certificates_pem(data[PREVIOUS_CERT])[0]
        except PKIError:
            previous = None
    previous_key = None
    if previous is not None and data.get(PREVIOUS_KEY):
        try:
            previous_key = load_private_key_pem(data[PREVIOUS_KEY], validate=False)
        except PKIError:
            previous_key = None
        if previous_key is not None and not key_matches_certificate(previous_key, previous):
            previous_key = None
    return CAMaterial(
        current=current,
        next=next_ca,
        previous=previous,
        activates_at=_time(annotations.get(ACTIVATES_AT)),
        activated_at=_time(annotations.get(ACTIVATED_AT)),
        retires_at=_time(annotations.get(RETIRES_AT)),
        handled_request=annotations.get(HANDLED_REQUEST, ""),
        requested=annotations.get(REQUESTED) == "true",
        previous_key=previous_key,
        imported_from=annotations.get(IMPORTED_FROM, ""),
    )


@dataclass(frozen=True)
class CASecretContent:
    data: dict[str, bytes]
    annotations: dict[str, str]


def ca_secret_content(material: CAMaterial) -> CASecretContent:
    """The CA Secret for a state; the previous CA's key stays only to sign its CRL until it retires."""
    data = {
        "tls.crt": certificates_to_pem([material.current.certificate]),
        "tls.key": encode_private_key_pem(material.current.private_key),
    }
    if material.next is not None:
        data[NEXT_CERT] = certificates_to_pem([material.next.certificate])
        data[NEXT_KEY] = encode_private_key_pem(material.next.private_key)
    if material.previous is not None:
        data[PREVIOUS_CERT] = certificates_to_pem([material.previous])
    if material.previous is not None and material.previous_key is not None:
        data[PREVIOUS_KEY] = encode_private_key_pem(material.previous_key)
    times = {
        ACTIVATES_AT: material.activates_at,
        ACTIVATED_AT: material.activated_at,
        RETIRES_AT: material.retires_at,
    }
    annotations = {name: value.isoformat() for name, value in times.items() if value is not None}
    if material.handled_request:
        annotations[HANDLED_REQUEST] = material.handled_request
    if material.requested:
        annotations[REQUESTED] = "true"
    if material.imported_from:
        annotations[IMPORTED_FROM] = material.imported_from
    return CASecretContent(data=data, annotations=annotations)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
