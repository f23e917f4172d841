"""A Certificate's plan: the gates, then the triggers, then when to look again.

One pure function: the first gate that fails or trigger that fires says why (its reason becomes
the condition reason and the event), and when none fires the plan says when to look again.
"""

from collections.abc import Mapping
from datetime import datetime

from cryptography import x509

from certmint.planning import labels, reasons
from certmint.planning.certificates.results import CurrentCertificate, Issue, Plan, Wait
from certmint.planning.certificates.secret import output_keys
from certmint.planning.certificates.secret_view import SecretView, Unusable
from certmint.planning.certificates.triggers import TRIGGERS, judge
from certmint.planning.contest import Contest, contest
from certmint.planning.gates import GATES, Request
from certmint.planning.issuer_view import IssuerView
from certmint.planning.ownership import Refusal
from certmint.planning.request import IssuanceSpec


def plan_certificate(
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretView | None,
    secret_owner_conflict: str | None,
    now: datetime,
    seed: str,
    namespace_labels: Mapping[str, str] | None = None,
    secret_refusal: Refusal | None = None,
) -> Plan:
    """`secret_owner_conflict` names another Certificate that already owns the Secret, if any;
    `namespace_labels` are the labels of the Certificate's namespace, for the issuer's policy;
    `secret_refusal` says why the Secret is not this Certificate's to write (planning.ownership)."""
    request = Request(
        spec,
        issuer,
        secret.name if secret else "",
        secret_owner_conflict,
        secret_refusal,
        namespace_labels or {},
        now,
    )
    for gate in GATES:
        failure = gate(request)
        if failure is not None:
            return failure
    if issuer.ca is None:  # issuer_ready fails first
        raise AssertionError("planning without a CA")
    if secret is None:
        return Issue(reasons.SECRET_MISSING, "Secret does not exist")
    current = parse_secret(secret)
    if isinstance(current, Issue):
        return current
    facts = judge(current, spec, issuer, issuer.ca, secret, now, seed)
    for trigger in TRIGGERS:
        plan = trigger(facts)
        if plan is not None:
            return plan
    wake_at = min(facts.renew_at, facts.reissue_at) if facts.reissue_at else facts.renew_at
    return Wait(current=current, renewal_time=wake_at)


DELIBERATE_REASONS = frozenset(
    {
        reasons.RENEW_REQUESTED,
        reasons.REVOKED,
        reasons.CA_ROTATED,
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
