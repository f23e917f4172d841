"""The restart fast path (planning.certificates.restart): taken when the Certificate's status, its
generation, its Secret and its issuer all agree; any one disagreement, including a Secret a tenant
edited while the operator was down, sends the Certificate through the full triggers."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from prometheus_client import REGISTRY

from certmint.api.certificate import IssuerRef
from certmint.api.common import ConditionStatus
from certmint.api.kinds import CERTIFICATES, ISSUERS
from certmint.kube.secrets import SecretObject
from certmint.operator.certificates import inputs
from certmint.operator.state import CERTIFICATE, ISSUER, Key
from certmint.pki import CARequest, CertificateAuthority, create_root_ca, serial_hex
from certmint.planning import labels, reasons
from certmint.planning.certificates.plan import parse_secret
from certmint.planning.certificates.restart import Recorded, unchanged_since_issued
from certmint.planning.certificates.results import CurrentCertificate, Wait
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.certificates.triggers import judge
from certmint.planning.contest import DataWriter
from certmint.planning.defaults import Resolved
from certmint.planning.issuer_view import IssuerView
from certmint.planning.request import IssuanceSpec
from tests.unit.operator.test_controller import (
    ISSUER_KEY,
    NAMESPACE,
    Harness,
    issued,
    ready_reason,
    serial_in,
)


@dataclass(frozen=True)
class Agreeing:
    """Everything the fast path looks at, for a Certificate certmint issued and nobody changed."""

    recorded: Recorded
    current: CurrentCertificate
    spec: IssuanceSpec
    issuer: IssuerView
    secret: SecretView
    resolved: Resolved
    now: datetime

    def check(self, **changed: Any) -> Wait | None:
        fields = {**self.__dict__, **changed}
        return unchanged_since_issued(
            fields["recorded"],
            fields["current"],
            fields["spec"],
            fields["issuer"],
            fields["secret"],
            fields["resolved"],
            fields["now"],
        )


async def restarted() -> tuple[Harness, Harness]:
    """A Certificate issued by one controller; a second one started over the same API, its Secrets
    listed and its issuer reconciled, the Certificate not yet."""
    before = Harness()
    await issued(before)
    after = Harness(before.kube, before.clock)
    await after.controller.load_secrets()
    after.controller.issuer_event(ISSUER, None, before.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")])
    await after.settle()
    return before, after


async def agreeing() -> Agreeing:
    before, after = await restarted()
    body = before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")]
    parsed = inputs.parse(body, after.controller.config.trust_domain)
    assert isinstance(parsed, tuple), "the Certificate is valid"
    certificate, spec = parsed
    secret = after.controller.state.secrets[(NAMESPACE, "web-tls")]
    current = parse_secret(secret)
    assert isinstance(current, CurrentCertificate), "certmint's Secret holds a certificate"
    assert certificate.spec.issuer_ref is not None
    return Agreeing(
        recorded=Recorded(certificate.metadata.generation, certificate.metadata.uid, certificate.status),
        current=current,
        spec=spec,
        issuer=after.controller.state.issuer_views[ISSUER_KEY],
        secret=secret,
        resolved=Resolved(certificate.spec.issuer_ref),
        now=after.clock(),
    )


async def test_everything_agreeing_schedules_the_renewal_the_status_announced() -> None:
    found = await agreeing()
    wait = found.check()
    assert wait is not None, "the fast path is taken"
    assert wait.renewal_time == found.recorded.status.renewal_time
    assert wait.current is found.current
    assert not wait.former_default
    assert wait.from_status


def _renewal(found: Agreeing) -> datetime:
    due = found.recorded.status.renewal_time
    assert due is not None, "a Ready status announces its renewal"
    return due


def _status(found: Agreeing, **changed: Any) -> Recorded:
    return replace(found.recorded, status=found.recorded.status.model_copy(update=changed))


def _annotated(found: Agreeing, key: str, value: str | None) -> SecretView:
    annotations = {k: v for k, v in found.secret.annotations.items() if k != key}
    if value is not None:
        annotations[key] = value
    return replace(found.secret, annotations=annotations)


def _other_ca() -> CertificateAuthority:
    return create_root_ca(CARequest(common_name="ca", duration=timedelta(days=1)), datetime.now(UTC))


def _not_ready(found: Agreeing) -> Recorded:
    conditions = [
        c.model_copy(update={"status": ConditionStatus.FALSE}) if c.type == "Ready" else c
        for c in found.recorded.status.conditions
    ]
    return _status(found, conditions=conditions)


DISAGREEMENTS: dict[str, Callable[[Agreeing], dict[str, Any]]] = {
    "the spec changed since (generation 2)": lambda f: {"recorded": replace(f.recorded, generation=2)},
    "the status is not Ready": lambda f: {"recorded": _not_ready(f)},
    "the status names another serial": lambda f: {"recorded": _status(f, serial_number="01")},
    "the status announces another renewal time": lambda f: {
        "recorded": _status(f, renewal_time=_renewal(f) + timedelta(seconds=1))
    },
    "the status names another notAfter": lambda f: {
        "recorded": _status(f, not_after=f.current.certificate.not_valid_after_utc + timedelta(hours=1))
    },
    "the status names another issuer": lambda f: {"recorded": _status(f, issuer_ref=IssuerRef(name="other"))},
    "the Secret records another spec digest": lambda f: {
        "secret": _annotated(f, labels.SPEC_DIGEST, "0" * 32)
    },
    "the Secret records another serial": lambda f: {"secret": _annotated(f, labels.SERIAL_NUMBER, "01")},
    "the Secret records another Certificate UID": lambda f: {
        "secret": _annotated(f, labels.CERTIFICATE_UID, "uid-other")
    },
    "the Secret records another issuer": lambda f: {"secret": _annotated(f, labels.ISSUER_NAME, "other")},
    "the Secret lacks ca.crt": lambda f: {
        "secret": replace(f.secret, present_keys=f.secret.present_keys - {"ca.crt"})
    },
    "the Secret is Opaque": lambda f: {"secret": replace(f.secret, secret_type="Opaque")},
    "tls.crt was last written by another manager": lambda f: {
        "secret": replace(
            f.secret,
            writers=(
                *f.secret.writers,
                DataWriter("kubectl", f.now, frozenset({"tls.crt"})),
            ),
        )
    },
    "tls.crt was written under certmint's manager name after the issuance": lambda f: {
        "secret": replace(
            f.secret,
            writers=tuple(replace(w, time=f.now + timedelta(minutes=5)) for w in f.secret.writers),
        )
    },
    "the Secret carries no managedFields": lambda f: {"secret": replace(f.secret, writers=())},
    "tls.key does not match": lambda f: {"current": replace(f.current, key_matches=False)},
    "the issuer's CA was replaced": lambda f: {
        "issuer": replace(f.issuer, signing=replace(f.issuer.signing, ca=_other_ca()))
    },
    "the issuer is in a rotation overlap": lambda f: {
        "issuer": replace(
            f.issuer,
            signing=replace(f.issuer.signing, previous=f.current.certificate, activated_at=f.now),
        )
    },
    "the serial is revoked": lambda f: {
        "issuer": replace(
            f.issuer,
            revoking=replace(
                f.issuer.revoking, revoked_serials=frozenset({f.current.certificate.serial_number})
            ),
        )
    },
    "the renewal is due": lambda f: {"now": _renewal(f)},
    "the Certificate follows the default issuer": lambda f: {
        "resolved": Resolved(f.resolved.ref, default_since=f.now)
    },
    "a renewal is requested": lambda f: {"spec": replace(f.spec, renew_request="token-1")},
}


@pytest.mark.parametrize("disagreement", sorted(DISAGREEMENTS))
async def test_any_disagreement_plans_in_full(disagreement: str) -> None:
    found = await agreeing()
    assert found.check() is not None, "without the change, the fast path is taken"
    assert found.check(**DISAGREEMENTS[disagreement](found)) is None


def _count_judgements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The full triggers' entry (their signature verification is in it), counted."""
    judged: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        judged.append(args[4].name)
        return judge(*args, **kwargs)

    monkeypatch.setattr("certmint.planning.certificates.plan.judge", counted)
    return judged


async def test_a_restart_over_an_unchanged_certificate_verifies_no_signature_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, after = await restarted()
    writes, events = len(before.kube.writes), len(before.kube.events)
    judged = _count_judgements(monkeypatch)
    fast_before = _scheduled_from_status()
    after.controller.certificate_event(None, before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
    await after.settle()
    assert judged == [], "the fast path stood in for the triggers"
    assert _scheduled_from_status() == fast_before + 1, "and its metric counts it"
    assert len(before.kube.writes) == writes
    assert len(before.kube.events) == events
    assert after.controller.queue.scheduled(_web()) is not None, "its renewal is scheduled"
    # Its next look (a later event, the renewal) is planned in full.
    after.controller.queue.add(_web())
    await after.settle()
    assert judged == ["web-tls"]


async def test_a_secret_a_tenant_replaced_while_the_operator_was_down_is_planned_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tenant copies certmint's annotations and writes a certificate of its own, with a key that
    matches, even under certmint's field manager name: the write's time gives it away."""
    before = Harness()
    await issued(before)
    first = serial_in(before.secret())
    foreign = _forged_like(before)
    before.clock.advance(timedelta(minutes=5))  # the operator is down meanwhile
    before.kube.put_secret(foreign, manager="certmint")
    after = Harness(before.kube, before.clock)
    await after.controller.load_secrets()
    after.controller.issuer_event(ISSUER, None, before.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")])
    judged = _count_judgements(monkeypatch)
    after.controller.certificate_event(None, before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
    await after.settle()
    assert judged == ["web-tls"], "planned in full"
    assert serial_in(before.secret()) not in (first, serial_in(foreign))
    assert ready_reason(before.status()) == reasons.READY
    assert before.kube.events[-1].reason == reasons.REISSUED


def _scheduled_from_status() -> float:
    return REGISTRY.get_sample_value("certmint_certificates_scheduled_from_status_total") or 0.0


def _web() -> Key:
    return Key(CERTIFICATE, NAMESPACE, "web")


def _forged_like(harness: Harness) -> SecretObject:
    """The Secret as certmint wrote it, with a certificate of the same serial, names, issuer name and
    authority key identifier, signed by another key (and that key as tls.key: it matches). Only a
    signature verification, or the time of the write, tells it apart."""
    secret = harness.secret()
    leaf = x509.load_pem_x509_certificate(secret.data["tls.crt"])
    other = _other_ca()
    forged = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(other.private_key.public_key())
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, False)
        .add_extension(leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value, False)
        .sign(other.private_key, hashes.SHA256())
    )
    key_pem = other.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    assert serial_hex(forged.serial_number) == secret.annotations[labels.SERIAL_NUMBER]
    data = {**secret.data, "tls.crt": forged.public_bytes(Encoding.PEM), "tls.key": key_pem}
    return replace(secret, data=data)
