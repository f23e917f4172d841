"""CA rotation with overlapping trust, in the manner of SPIRE's A/B slots, as pure decisions.

Stable --(rotation time reached, or requested)--> Prepared: the next CA is generated and trusted
everywhere the issuer is trusted, but does not sign yet.
Prepared --(propagation delay over)--> Overlap: the next CA becomes current and signs; existing
certificates are re-issued spread over a window; the previous CA stays trusted.
Overlap --(the previous CA's last certificate has expired)--> Stable: the previous CA is retired.

Every state lives in the CA Secret (planning.issuers.ca_secret: keys, certificates, and timestamps as
annotations), so a restarted operator resumes exactly where it stopped.

No loops. A CA step happens only because someone wrote (a rotate-ca request) or because it is due,
and never sooner than a floor after the step before it:
- the spec's minimums (certmint.api.issuer: MIN_CA_DURATION, MIN_PROPAGATION_DELAY,
  MIN_REISSUE_WINDOW, and a fresh CA signs at least 2 x propagationDelay + reissueWindow before
  its own rotation is due) are checked by the API server and again in planning
  (planning.issuers.ca.schedule_error, through plan_ca), so an Issuer stored before those rules is
  refused with reason RotationScheduleInvalid;
- whatever the spec says, `rotation_policy` never uses a delay or window below the minimums, a
  scheduled rotation never starts sooner than 2 x delay + window after its CA was made, and the
  previous CA never retires sooner than one delay after the activation: prepare, activate and
  retire are each at least MIN_PROPAGATION_DELAY apart;
- the operator remembers each issuer's last step (`StepTaken`): the next step waits at least
  MIN_STEP after it, and the same step taken again (a write that did not stick, a request after a
  request) waits for a backoff (`step_allowed_at`: 5 s, doubling, at most 5 min), which starts over
  when a different step is taken or the spec's generation changes.

An imported CA (spec.selfSigned.importFrom) is the exception: it signed certificates certmint never
saw, so after a scheduled rotation it stays trusted until its own end.

The overlap (how long the previous CA stays trusted after activation) counts only certificates that
were issued: the longest duration among the certificates the retiring CA signed that the
Certificates' Secrets hold (`longest_issued`, signatures checked), never a spec; a Certificate
refused for its duration cannot stretch it. Certificates signed through Kubernetes CSRs are not in
those Secrets and are not counted, as they were not before.

rotate-ca (the annotation ROTATE_REQUEST, for a compromised CA) is honoured in every phase, each
distinct value once:
- Stable: a rotation starts now, the old CA is distrusted one propagation delay after activation.
- Prepared: the prepared next CA is replaced by a freshly generated one (its key sat in the same
  Secret as the compromised one) that signs one propagation delay from now; the rotation becomes a
  requested one.
- Overlap: a new rotation starts now. The previous CA stays trusted until that rotation activates,
  one propagation delay from now, and no longer even if its retirement was planned later: there is
  one slot for a previous CA, and at the activation the CA that signed until then takes it
  (distrusted one propagation delay later), while the older one and its key are dropped (its key
  sat in the same Secret as the CA the request calls compromised). Certificates still on the older
  CA are re-issued at once, as a requested rotation has no reissue window. The older CA thus stays
  trusted at most one propagation delay beyond its planned retirement.
"""

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from certmint.api import Issuer, parse_duration
from certmint.api.issuer import MIN_PROPAGATION_DELAY, MIN_REISSUE_WINDOW, RotationPhase
from certmint.pki import (
    CARequest,
    CertificateAuthority,
    PrivateKey,
    issued_by,
)
from certmint.pki.ca import BACKDATE
from certmint.planning.constraints import ClusterNames
from certmint.planning.issuer_view import fingerprint
from certmint.planning.issuers.ca import ca_request, schedule_error

__all__ = ["schedule_error"]

MIN_STEP: Final = parse_duration(MIN_PROPAGATION_DELAY)
"""No two steps of a rotation are closer than this."""
REPEAT_BACKOFF_MAX: Final = timedelta(minutes=5)
"""The longest wait before the same step is taken again."""

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
    imported_from: str = ""
    """The Secret (namespace/name) the current CA was imported from (spec.selfSigned.importFrom);
    empty for a CA certmint generated. Cleared when a rotation activates the next CA."""

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


@dataclass(frozen=True)
class StepTaken:
    """The last rotation step an issuer took, as the operator remembers it between reconciles."""

    kind: str
    generation: int
    at: datetime
    repeats: int = 1
    """How many times in a row this kind of step was taken under this generation."""


def rotation_policy(issuer: Issuer) -> RotationPolicy:
    """The spec's rotation, never below the minimums (whatever an old stored object says)."""
    if issuer.spec.self_signed is None:
        raise ValueError("only selfSigned issuers rotate their CA")
    rotation = issuer.spec.self_signed.rotation
    return RotationPolicy(
        rotate_before_percentage=min(max(rotation.rotate_before_percentage, 1), 90),
        propagation_delay=max(parse_duration(rotation.propagation_delay), MIN_STEP),
        reissue_window=max(parse_duration(rotation.reissue_window), parse_duration(MIN_REISSUE_WINDOW)),
    )


def rotation_time(ca: x509.Certificate, rotate_before_percentage: int) -> datetime:
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    return ca.not_valid_after_utc - lifetime * (rotate_before_percentage / 100)


def scheduled_rotation(ca: x509.Certificate, policy: RotationPolicy) -> datetime:
    """When a CA's scheduled rotation starts: at its rotation time, and never sooner than a whole
    rotation (2 x delay + window) after it was made, so a new CA is never due at once."""
    made = ca.not_valid_before_utc + BACKDATE
    earliest = made + 2 * policy.propagation_delay + policy.reissue_window
    return max(rotation_time(ca, policy.rotate_before_percentage), earliest)


def step_allowed_at(last: StepTaken | None, kind: str, generation: int) -> datetime | None:
    """The soonest the step `kind` may follow the last step taken under the same generation:
    MIN_STEP after a different step, and after the same step again 5 s, doubling with each further
    repeat, at most 5 minutes. None (no wait) for the first step, or once the spec has changed."""
    if last is None or last.generation != generation:
        return None
    if last.kind != kind:
        return last.at + MIN_STEP
    wait = min(MIN_STEP * (1 << min(last.repeats - 1, 16)), REPEAT_BACKOFF_MAX)
    return last.at + wait


def step_taken(
    last: StepTaken | None, step: "Prepare | Activate | Retire", generation: int, now: datetime
) -> StepTaken:
    """The record after `step` was taken at `now`: its repeats count on, or start over with a
    different step or generation."""
    kind = type(step).__name__
    if last is not None and last.kind == kind and last.generation == generation:
        return StepTaken(kind, generation, now, last.repeats + 1)
    return StepTaken(kind, generation, now)


def longest_issued(certificates: Iterable[bytes], ca: x509.Certificate) -> timedelta:
    """The longest duration among the certificates (DER, as the Secret views hold them) that `ca`
    signed: what the previous CA's overlap must cover. Others are not counted, nor any spec: a
    Certificate refused for its duration was never issued. A duration is notAfter - notBefore less
    the backdating, which is exact, or longer when notBefore was held at the CA's own."""
    longest = timedelta(0)
    for der in certificates:
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        if certificate.issuer != ca.subject:
            continue
        if not issued_by(certificate, ca):
            continue
        lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        longest = max(longest, lifetime - BACKDATE)
    return longest


def longest_pod_certificate(issuer: Issuer) -> timedelta:
    """The longest a pod certificate of this issuer can live (zero without spec.podCertificates):
    podCertificates.maxDuration, capped by the policy's maxDuration. A rotation's overlap covers it,
    whatever pod certificates were seen: PodCertificateRequests are deleted 15 min after creation,
    so what was issued cannot be counted the way Certificates' Secrets are."""
    pods = issuer.spec.pod_certificates
    if pods is None:
        return timedelta(0)
    longest = parse_duration(pods.max_duration)
    policy = issuer.spec.policy
    if policy is not None and policy.max_duration is not None:
        longest = min(longest, parse_duration(policy.max_duration))
    return longest


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
    last: StepTaken | None = None,
    names: ClusterNames | None = None,
    published: Mapping[str, AbstractSet[str]] | None = None,
) -> RotationStep:
    """`requested`: the Issuer's rotate-ca annotation; `longest_leaf`: the longest lifetime of the
    certificates the current CA issued (`longest_issued`), which bounds how long it must stay
    trusted once it is the previous one; `last`: the last step this issuer took; `names`: what the
    next CA's default name constraints are made of; `published`: what every TrustBundle including
    the issuer publishes of it (lagging_bundles): a prepared CA does not sign before they all
    publish it, up to activation_deadline."""
    step = _plan(issuer, material, requested, longest_leaf, now, names, published)
    if isinstance(step, Hold):
        return step
    allowed = step_allowed_at(last, type(step).__name__, issuer.metadata.generation or 0)
    if allowed is not None and now < allowed:
        return Hold(allowed)
    return step


def _plan(
    issuer: Issuer,
    material: CAMaterial,
    requested: str,
    longest_leaf: timedelta,
    now: datetime,
    names: ClusterNames | None,
    published: Mapping[str, AbstractSet[str]] | None,
) -> RotationStep:
    policy = rotation_policy(issuer)
    phase = material.phase
    if requested and requested != material.handled_request:
        # Honoured in every phase (see the module's docstring).
        request = ca_request(issuer, names)
        return Prepare(request, now + policy.propagation_delay, requested=True, handled_request=requested)
    if phase == RotationPhase.PREPARED:
        if material.activates_at is not None and now < material.activates_at:
            return Hold(material.activates_at)
        lagging = lagging_bundles(material, published or {})
        deadline = activation_deadline(material, policy, longest_leaf)
        if lagging and now < deadline:
            return Hold(deadline, lagging)
        end = material.current.certificate.not_valid_after_utc
        if material.requested:
            # A requested rotation usually means a compromised CA: distrust it as soon as the
            # re-issued certificates have reached the pods.
            overlap = policy.propagation_delay
        elif material.imported_from:
            # An imported CA signed certificates certmint never saw (the leaves of the tool it came
            # from, not yet adopted): none of them may lose trust because certmint rotated.
            return Activate(retires_at=end, lagging=lagging)
        else:
            overlap = max(longest_leaf, policy.reissue_window) + policy.propagation_delay
        return Activate(retires_at=min(now + overlap, end), lagging=lagging)
    if phase == RotationPhase.OVERLAP:
        retires_at = _retirement(material, policy, now)
        return Retire() if now >= retires_at else Hold(retires_at)
    rotate_at = scheduled_rotation(material.current.certificate, policy)
    if now >= rotate_at:
        request = ca_request(issuer, names)
        return Prepare(request, now + policy.propagation_delay, False, material.handled_request)
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
            imported_from="",
        )
    return replace(
        material, previous=None, previous_key=None, activated_at=None, retires_at=None, requested=False
    )


def stable_material(ca: CertificateAuthority) -> CAMaterial:
    return CAMaterial(ca, None, None, None, None, None, handled_request="", requested=False)


def _retirement(material: CAMaterial, policy: RotationPolicy, now: datetime) -> datetime:
    """The previous CA retires at its planned time, and never sooner than one propagation delay
    after the activation (an old CA already expired by then stays in the bundles that long,
    harmlessly)."""
    retires_at = material.retires_at or now
    if material.activated_at is not None:
        retires_at = max(retires_at, material.activated_at + policy.propagation_delay)
    return retires_at


def next_check(material: CAMaterial, issuer: Issuer) -> datetime:
    policy = rotation_policy(issuer)
    if material.phase == RotationPhase.PREPARED and material.activates_at is not None:
        return material.activates_at
    planned = material.retires_at or material.activated_at
    if material.phase == RotationPhase.OVERLAP and planned is not None:
        return _retirement(material, policy, planned)
    return scheduled_rotation(material.current.certificate, policy)
