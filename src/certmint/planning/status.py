"""Status conditions per the Kubernetes API conventions."""

from collections.abc import Sequence
from datetime import datetime

from certmint.api import CertificateStatus, Condition, ConditionStatus
from certmint.api.certificate import IssuerRef
from certmint.api.kinds import READY
from certmint.pki import serial_hex
from certmint.planning import reasons

ISSUING = "Issuing"


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int,
    now: datetime,
) -> list[Condition]:
    """Replaces the condition of that type; lastTransitionTime moves only when the status flips."""
    previous = next((c for c in conditions if c.type == type_), None)
    transition = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        observed_generation=observed_generation,
        last_transition_time=transition,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def certificate_ready(
    old: CertificateStatus,
    issuer_ref: IssuerRef,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
    renewal_time: datetime,
    revision: int,
    generation: int,
    now: datetime,
) -> CertificateStatus:
    """For the certificate of `serial_number`, valid from `not_before` to `not_after`, of the issuer
    the Certificate resolved to."""
    conditions = set_condition(
        old.conditions,
        READY,
        ConditionStatus.TRUE,
        reasons.READY,
        f"certificate is up to date and valid until {not_after:%Y-%m-%dT%H:%M:%SZ}",
        generation,
        now,
    )
    conditions = set_condition(
        conditions, ISSUING, ConditionStatus.FALSE, reasons.ISSUED, "no issuance needed", generation, now
    )
    return CertificateStatus(
        conditions=conditions,
        observed_generation=generation,
        not_before=not_before,
        not_after=not_after,
        renewal_time=renewal_time,
        serial_number=serial_hex(serial_number),
        revision=revision,
        issuer_ref=issuer_ref,
    )


def certificate_failed(
    old: CertificateStatus, reason: str, message: str, retrying: bool, generation: int, now: datetime
) -> CertificateStatus:
    """Keeps what is known about the certificate in the Secret; only the conditions and failure time move."""
    conditions = set_condition(old.conditions, READY, ConditionStatus.FALSE, reason, message, generation, now)
    conditions = set_condition(
        conditions,
        ISSUING,
        ConditionStatus.TRUE if retrying else ConditionStatus.FALSE,
        reason,
        "retrying with backoff" if retrying else "waiting for the Certificate to be fixed",
        generation,
        now,
    )
    unchanged = condition(old.conditions, READY) == condition(conditions, READY)
    return old.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": generation,
            "last_failure_time": old.last_failure_time if unchanged else now,
        }
    )
