"""A Certificate's plan: the gates, then the triggers, then when to look again.

One pure function: the first gate that fails or trigger that fires says why (its reason becomes
the condition reason and the event), and when none fires the plan says when to look again.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certmint.planning import labels, reasons
from certmint.planning.certificates.restart import Recorded, unchanged_since_issued
from certmint.planning.certificates.results import CurrentCertificate, Issue, Plan, Wait
from certmint.planning.certificates.secret import output_keys
from certmint.planning.certificates.secret_view import SecretView, Unusable
from certmint.planning.certificates.triggers import TRIGGERS, judge
from certmint.planning.contest import Contest, contest
from certmint.planning.defaults import Resolved
from certmint.planning.gates import GATES, Fail, Request
from certmint.planning.issuer_view import IssuerView
from certmint.planning.ownership import Refusal
from certmint.planning.request import IssuanceSpec


@dataclass(frozen=True)
class SecretClaim:
    """Whether the Secret is this Certificate's to write: what the Secret gates look at."""

    secret_name: str
    owner_conflict: str | None
    """Another Certificate that already owns the Secret, if any."""
    refusal: Refusal | None
    """Why the Secret is not this Certificate's to write (planning.ownership), if it is not."""


SecretGate = Callable[[SecretClaim], Fail | None]


def secret_not_claimed(claim: SecretClaim) -> Fail | None:
    if claim.owner_conflict is None:
        return None
    return Fail(
        reasons.SECRET_CONFLICT,
        f"Secret {claim.secret_name} is already managed by Certificate "
        f"{claim.owner_conflict}; choose another secretName",
        retryable=False,
    )


def secret_is_ours(claim: SecretClaim) -> Fail | None:
    """Retried with backoff: an adoption annotation on a Secret certmint does not watch is
    noticed that way."""
    refusal = claim.refusal
    return None if refusal is None else Fail(refusal.reason, refusal.message, retryable=True)


SECRET_GATES: tuple[SecretGate, ...] = (secret_not_claimed, secret_is_ours)
"""After the request gates (planning.gates.GATES), in order; a CSR has no Secret and skips these."""


def plan_certificate(
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretView | None,
    secret_owner_conflict: str | None,
    now: datetime,
    seed: str,
    namespace_labels: Mapping[str, str] | None = None,
    secret_refusal: Refusal | None = None,
    resolved: Resolved | None = None,
    recorded: Recorded | None = None,
) -> Plan:
    """`secret_owner_conflict` names another Certificate that already owns the Secret, if any;
    `namespace_labels` are the labels of the Certificate's namespace, for the issuer's policy;
    `secret_refusal` says why the Secret is not this Certificate's to write (planning.ownership);
    `resolved`: the issuer the Certificate resolved to (planning.defaults); `recorded`: what the
    Certificate's status says, given for its first plan in this process (planning.certificates.restart)."""
    request = Request(spec, issuer, namespace_labels or {}, now)
    claim = SecretClaim(secret.name if secret else "", secret_owner_conflict, secret_refusal)
    for gate in GATES:
        if (failure := gate(request)) is not None:
            return failure
    for secret_gate in SECRET_GATES:
        if (failure := secret_gate(claim)) is not None:
            return failure
    if issuer.signing.ca is None:  # issuer_ready fails first
        raise AssertionError("planning without a CA")
    if secret is None:
        return Issue(reasons.SECRET_MISSING, "Secret does not exist")
    current = parse_secret(secret)
    if isinstance(current, Issue):
        return current
    if recorded is not None:
        unchanged = unchanged_since_issued(recorded, current, spec, issuer, secret, resolved, now)
        if unchanged is not None:
            return unchanged
    facts = judge(current, spec, issuer, issuer.signing.ca, secret, now, seed, resolved)
    for trigger in TRIGGERS:
        plan = trigger(facts)
        if plan is not None:
            return plan
    points = (facts.renew_at, facts.reissue_at, facts.former_default_reissue_at)
    wake_at = min(point for point in points if point is not None)
    return Wait(
        current=current,
        renewal_time=wake_at,
        former_default=facts.former_default_reissue_at is not None,
    )


DELIBERATE_REASONS = frozenset(
    {
        reasons.RENEW_REQUESTED,
        reasons.REVOKED,
        reasons.CA_ROTATED,
        reasons.DEFAULT_ISSUER_CHANGED,
        reasons.RENEWING,
        reasons.EXPIRED,
        reasons.SECRET_MISSING,
    }
)
"""Issuances someone asked for, or that are due: served at once, never held back as a contest."""


def contested_repair(
    plan: Plan, spec: IssuanceSpec, secret: SecretView | None, now: datetime
) -> Contest | None:
    """When the planned issuance repairs a change another writer made to the Secret: the contest,
    whose `due` says when the repair may be written (planning.contest). A changed spec is the
    user's deliberate change, served at once."""
    if not isinstance(plan, Issue) or secret is None or plan.reason in DELIBERATE_REASONS:
        return None
    if secret.annotations.get(labels.SPEC_DIGEST) != spec.digest:
        return None
    return contest(secret.writers, output_keys(spec), secret.annotations, now)


def parse_secret(secret: SecretView) -> CurrentCertificate | Issue:
    contents = secret.contents
    if isinstance(contents, Unusable):
        return Issue(contents.reason, contents.message)
    return CurrentCertificate(
        certificate=x509.load_der_x509_certificate(contents.certificate_der),
        key_spec=contents.key_spec,
        key_matches=contents.key_matches,
    )
