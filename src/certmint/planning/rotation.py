"""CA rotation with overlapping trust, in the manner of SPIRE's A/B slots, as pure decisions.

Stable --(rotation time reached, or requested)--> Prepared: the next CA is generated and trusted
everywhere the issuer is trusted, but does not sign yet.
Prepared --(propagation delay over)--> Overlap: the next CA becomes current and signs; existing
certificates are re-issued spread over a window; the previous CA stays trusted.
Overlap --(the previous CA's last certificate has expired)--> Stable: the previous CA is retired.

Every state lives in the CA Secret (planning.ca_secret: keys, certificates, and timestamps as
annotations), so a restarted operator resumes exactly where it stopped.
"""

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from certmint.api import Issuer, parse_duration
from certmint.api.issuer import RotationPhase
from certmint.pki import (
    CARequest,
    CertificateAuthority,
    PrivateKey,
)
from certmint.planning.bundle_sources import fingerprint
from certmint.planning.issuer import ca_request

REQUESTED_ACTIVATION_GRACE: Final = timedelta(minutes=1)
"""A requested rotation's next CA waits for lagging TrustBundles at least this long after its
propagation delay (activation_deadline)."""

ROTATE_REQUEST: Final = "certmint.dev/rotate-ca"
"""On an Issuer: set it to a new value (e.g. a timestamp) to rotate its CA now."""


@dataclass(frozen=True)
class RotationPolicy:
    rotate_before_percentage: int
    propagation_delay: timedelta
    reissue_window: timedelta


@dataclass(frozen=True)
class CAMaterial:
    current: CertificateAuthority
    next: CertificateAuthority | None
    previous: x509.Certificate | None
    activates_at: datetime | None
    activated_at: datetime | None
    retires_at: datetime | None
    handled_request: str
    requested: bool
    previous_key: PrivateKey | None = None
    """Signs nothing but the previous CA's CRL, until it retires: peers checking CRLs need one for
    every CA they trust."""

    @property
    def phase(self) -> RotationPhase:
        if self.next is not None:
            return RotationPhase.PREPARED
        if self.previous is not None:
            return RotationPhase.OVERLAP
        return RotationPhase.STABLE

    @property
    def trust(self) -> tuple[x509.Certificate, ...]:
        """What every peer must trust now: current, plus the next or the previous CA."""
        extra = [cert for cert in (self.next.certificate if self.next else None, self.previous) if cert]
        return (self.current.root, *extra)

    @property
    def crl_signers(self) -> tuple[CertificateAuthority, ...]:
        """Every CA in the trust set whose key certmint holds."""
        previous = (
            CertificateAuthority(self.previous, self.previous_key)
            if self.previous is not None and self.previous_key is not None
            else None
        )
        return tuple(ca for ca in (self.current, self.next, previous) if ca is not None)


@dataclass(frozen=True)
class Hold:
    until: datetime
    lagging: tuple[str, ...] = ()
    """TrustBundles that publish the current CA but not the next one yet: activation waits for
    them until `until` (see activation_deadline)."""


@dataclass(frozen=True)
class Prepare:
    request: CARequest
    activates_at: datetime
    requested: bool
    handled_request: str


@dataclass(frozen=True)
class Activate:
    retires_at: datetime
    lagging: tuple[str, ...] = ()
    """Bundles that still had not published the next CA when the wait's bound passed."""


@dataclass(frozen=True)
class Retire:
    pass


RotationStep = Hold | Prepare | Activate | Retire


def rotation_policy(issuer: Issuer) -> RotationPolicy:
    if issuer.spec.self_signed is None:
        raise ValueError("only selfSigned issuers rotate their CA")
    rotation = issuer.spec.self_signed.rotation
    return RotationPolicy(
        rotate_before_percentage=rotation.rotate_before_percentage,
        propagation_delay=parse_duration(rotation.propagation_delay),
        reissue_window=parse_duration(rotation.reissue_window),
    )


def rotation_time(ca: x509.Certificate, rotate_before_percentage: int) -> datetime:
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    return ca.not_valid_after_utc - lifetime * (rotate_before_percentage / 100)


def lagging_bundles(material: CAMaterial, published: Mapping[str, AbstractSet[str]]) -> tuple[str, ...]:
    """Bundles whose consumers trust the current CA but would not trust the next one yet.

    `published`: TrustBundle name → SHA-256 fingerprints of the CAs it publishes for this issuer in
    every copy. A bundle that does not publish the current CA either (new, refused, never synced)
    holds nothing back: its consumers verify none of this issuer's certificates today."""
    if material.next is None:
        return ()
    current, following = fingerprint(material.current.root), fingerprint(material.next.root)
    return tuple(
        sorted(name for name, held in published.items() if current in held and following not in held)
    )


def activation_deadline(material: CAMaterial, policy: RotationPolicy, longest_leaf: timedelta) -> datetime:
    """Until when activation waits for lagging bundles, after which the next CA signs anyway.

    A requested rotation (a compromised CA) waits one more propagation delay at most, and at least
    REQUESTED_ACTIVATION_GRACE: the old key must stop signing soon whatever a bundle does, but a
    short (or zero) delay must not turn every consumer of a slow bundle away at once. A scheduled
    one waits as long as the current CA can still sign full-length certificates and have them
    re-issued before it expires; never before `activates_at`."""
    activates_at = material.activates_at or material.current.certificate.not_valid_before_utc
    if material.requested:
        return activates_at + max(policy.propagation_delay, REQUESTED_ACTIVATION_GRACE)
    latest = material.current.certificate.not_valid_after_utc - (
        max(longest_leaf, policy.reissue_window) + policy.propagation_delay
    )
    return max(activates_at, latest)


def plan_rotation(
    issuer: Issuer,
    material: CAMaterial,
    requested: str,
    longest_leaf: timedelta,
    now: datetime,
    published: Mapping[str, AbstractSet[str]] | None = None,
) -> RotationStep:
    """`requested`: the Issuer's rotate-ca annotation; `longest_leaf`: the longest lifetime of any
    certificate the issuer signs, which bounds how long the previous CA must stay trusted;
    `published`: what every TrustBundle including the issuer publishes of it (lagging_bundles):
    a prepared CA does not sign before they all publish it, up to activation_deadline."""
    policy = rotation_policy(issuer)
    phase = material.phase
    if phase == RotationPhase.PREPARED:
        if material.activates_at is not None and now < material.activates_at:
            return Hold(material.activates_at)
        lagging = lagging_bundles(material, published or {})
        deadline = activation_deadline(material, policy, longest_leaf)
        if lagging and now < deadline:
            return Hold(deadline, lagging)
        if material.requested:
            # A requested rotation usually means a compromised CA: distrust it as soon as the
            # re-issued certificates have reached the pods.
            overlap = policy.propagation_delay
        else:
            overlap = max(longest_leaf, policy.reissue_window) + policy.propagation_delay
        return Activate(
            retires_at=min(now + overlap, material.current.certificate.not_valid_after_utc), lagging=lagging
        )
    if phase == RotationPhase.OVERLAP:
        retires_at = material.retires_at or now
        return Retire() if now >= retires_at else Hold(retires_at)
    if requested and requested != material.handled_request:
        return Prepare(
            ca_request(issuer), now + policy.propagation_delay, requested=True, handled_request=requested
        )
    rotate_at = rotation_time(material.current.certificate, policy.rotate_before_percentage)
    if now >= rotate_at:
        return Prepare(ca_request(issuer), now + policy.propagation_delay, False, material.handled_request)
    return Hold(rotate_at)


def advance(
    material: CAMaterial,
    step: Prepare | Activate | Retire,
    now: datetime,
    next_ca: CertificateAuthority | None,
) -> CAMaterial:
    """The state after a step; `next_ca` is the freshly generated CA of a Prepare."""
    if isinstance(step, Prepare):
        if next_ca is None:
            raise ValueError("preparing needs the next CA")
        return replace(
            material,
            next=next_ca,
            activates_at=step.activates_at,
            handled_request=step.handled_request,
            requested=step.requested,
        )
    if isinstance(step, Activate):
        if material.next is None:
            raise ValueError("activating needs a prepared CA")
        return replace(
            material,
            current=material.next,
            next=None,
            previous=material.current.certificate,
            previous_key=material.current.private_key,
            activates_at=None,
            activated_at=now,
            retires_at=step.retires_at,
        )
    return replace(
        material, previous=None, previous_key=None, activated_at=None, retires_at=None, requested=False
    )


def stable_material(ca: CertificateAuthority) -> CAMaterial:
    return CAMaterial(ca, None, None, None, None, None, handled_request="", requested=False)


def next_check(material: CAMaterial, issuer: Issuer) -> datetime:
    if material.phase == RotationPhase.PREPARED and material.activates_at is not None:
        return material.activates_at
    if material.phase == RotationPhase.OVERLAP and material.retires_at is not None:
        return material.retires_at
    return rotation_time(material.current.certificate, rotation_policy(issuer).rotate_before_percentage)
