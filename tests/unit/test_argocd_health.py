"""The Argo CD health scripts (contrib/argocd), run by Debian's Lua on the statuses certmint's own
status code writes, and the files generated from them kept in sync."""

import re
import shutil
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

import argocd_cm
from certmint.api import CertificateStatus, ConditionStatus
from certmint.api.certificate import IssuerKind, IssuerRef
from certmint.api.kinds import READY, RESOURCES, SYNCED
from certmint.planning import reasons
from certmint.planning.status import certificate_failed, certificate_ready, set_condition
from tests.argocd_health import Health, health, lua_literal

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)


def with_status(kind: str, status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "certmint.dev/v1",
        "kind": kind,
        "metadata": {"name": "web", "namespace": "team", "generation": generation},
        "spec": {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def ready_certificate(generation: int = 1) -> dict[str, Any]:
    status = certificate_ready(
        CertificateStatus(),
        IssuerRef(name="ca", kind=IssuerKind.CLUSTER_ISSUER),
        0x1F,
        NOW,
        LATER,
        NOW,
        1,
        generation,
        NOW,
    )
    return status.to_api()


def failed_certificate(reason: str, message: str, retrying: bool, generation: int = 1) -> dict[str, Any]:
    return certificate_failed(CertificateStatus(), reason, message, retrying, generation, NOW).to_api()


def conditions(
    type_: str, status: ConditionStatus, reason: str, message: str, generation: int = 1
) -> dict[str, Any]:
    written = set_condition([], type_, status, reason, message, generation, NOW)
    return {"conditions": [condition.to_api() for condition in written], "observedGeneration": generation}


# Certificates.


def test_a_certificate_without_status_is_progressing() -> None:
    assert health("Certificate", with_status("Certificate", None)) == Health(
        "Progressing", "Waiting for certmint to issue the certificate"
    )
    assert health("Certificate", with_status("Certificate", {"conditions": []})).status == "Progressing"


def test_a_ready_certificate_is_healthy_with_the_conditions_message() -> None:
    assert health("Certificate", with_status("Certificate", ready_certificate())) == Health(
        "Healthy", "certificate is up to date and valid until 2026-05-02T12:00:00Z"
    )


def test_a_certificate_certmint_has_not_seen_since_its_spec_changed_is_progressing() -> None:
    stale = with_status("Certificate", ready_certificate(generation=2), generation=3)
    assert health("Certificate", stale) == Health(
        "Progressing", "Waiting for certmint to act on generation 3"
    )


def test_a_certificate_waiting_for_its_issuer_is_progressing() -> None:
    waiting = failed_certificate(
        reasons.ISSUER_NOT_READY, "issuer is not ready: CAGenerated: making it", True
    )
    assert health("Certificate", with_status("Certificate", waiting)) == Health(
        "Progressing", "IssuerNotReady: issuer is not ready: CAGenerated: making it"
    )


@pytest.mark.parametrize(
    ("reason", "retrying"),
    [
        (reasons.INVALID_SPEC, False),
        (reasons.ISSUER_NOT_FOUND, True),
        (reasons.POLICY_DENIED, False),
        (reasons.OUTSIDE_NAME_CONSTRAINTS, False),
        (reasons.DURATION_EXCEEDS_ISSUER, True),
        (reasons.SECRET_CONFLICT, True),
        (reasons.SECRET_REJECTED, False),
        (reasons.PASSWORD_SECRET_NOT_FOUND, True),
        (reasons.PASSWORD_SECRET_NOT_ALLOWED, True),
        (reasons.SECRET_NOT_OWNED, True),
        (reasons.SECRET_IS_ISSUER_CA, False),
        (reasons.SECRET_CONTESTED, False),
        (reasons.INVALID_REQUEST, True),
    ],
)
def test_a_failing_certificate_is_degraded_with_the_reason(reason: str, retrying: bool) -> None:
    failing = failed_certificate(reason, f"because of {reason}", retrying)
    assert health("Certificate", with_status("Certificate", failing)) == Health(
        "Degraded", f"{reason}: because of {reason}"
    )


def test_a_certificate_that_failed_after_it_was_ready_is_degraded() -> None:
    issued = CertificateStatus.model_validate(ready_certificate())
    failing = certificate_failed(issued, reasons.POLICY_DENIED, "no", False, 1, NOW).to_api()
    assert failing["serialNumber"]  # what is known of the certificate in the Secret stays
    assert health("Certificate", with_status("Certificate", failing)).status == "Degraded"


def test_an_unknown_ready_is_progressing() -> None:
    unknown = conditions(READY, ConditionStatus.UNKNOWN, "Checking", "")
    assert health("Certificate", with_status("Certificate", unknown)) == Health("Progressing", "Checking")


def test_a_condition_without_observed_generation_is_judged_by_its_status() -> None:
    status = ready_certificate()
    for condition in status["conditions"]:
        del condition["observedGeneration"]
    assert health("Certificate", with_status("Certificate", status, generation=7)).status == "Healthy"


def test_messages_come_back_byte_for_byte() -> None:
    message = 'a "quoted" \\ back\nslash, tab\t, ünïcödé ✓, ]] and [[ and \x01'
    failing = failed_certificate(reasons.POLICY_DENIED, message, False)
    assert health("Certificate", with_status("Certificate", failing)) == Health(
        "Degraded", f"PolicyDenied: {message}"
    )


def test_the_lua_literal_of_json() -> None:
    assert lua_literal({"a": [1, 2.5, True, None, "x"]}) == '{["a"] = {1, 2.5, true, nil, "x"}}'
    assert lua_literal('"\n') == '"\\034\\010"'


# Issuers.


@pytest.mark.parametrize("kind", ["Issuer", "ClusterIssuer"])
def test_an_issuer_is_healthy_when_ready_and_says_its_rotation_phase(kind: str) -> None:
    status = conditions(READY, ConditionStatus.TRUE, reasons.CA_READY, "CA CN=team-ca valid until 2027")
    assert health(kind, with_status(kind, status)) == Health("Healthy", "CA CN=team-ca valid until 2027")
    status["rotation"] = {"phase": "Prepared", "activatesAt": "2026-05-03T00:00:00Z"}
    assert health(kind, with_status(kind, status)) == Health(
        "Healthy",
        "CA CN=team-ca valid until 2027; CA rotation Prepared (the next CA signs from 2026-05-03T00:00:00Z)",
    )
    status["rotation"] = {"phase": "Overlap", "retiresAt": "2026-05-04T00:00:00Z"}
    assert health(kind, with_status(kind, status)).message.endswith(
        "; CA rotation Overlap (the previous CA is trusted until 2026-05-04T00:00:00Z)"
    )
    status["rotation"] = {"phase": "Stable"}
    assert health(kind, with_status(kind, status)).message.endswith("; CA rotation Stable")


@pytest.mark.parametrize(
    "reason",
    [
        reasons.CA_SECRET_NOT_FOUND,
        reasons.CA_SECRET_INVALID,
        reasons.CA_KEY_MISMATCH,
        reasons.CA_EXPIRED,
        reasons.INVALID_SPEC,
        reasons.ROTATION_SCHEDULE_INVALID,
        reasons.REVOCATION_LIST_INVALID,
    ],
)
def test_a_failing_issuer_is_degraded_with_the_reason(reason: str) -> None:
    status = conditions(READY, ConditionStatus.FALSE, reason, "fix it")
    assert health("Issuer", with_status("Issuer", status)) == Health("Degraded", f"{reason}: fix it")


def test_an_issuer_without_status_or_behind_its_spec_is_progressing() -> None:
    assert health("Issuer", with_status("Issuer", None)) == Health(
        "Progressing", "Waiting for certmint to make or load the CA"
    )
    behind = conditions(READY, ConditionStatus.TRUE, reasons.CA_READY, "ok", generation=1)
    assert health("ClusterIssuer", with_status("ClusterIssuer", behind, generation=2)) == Health(
        "Progressing", "Waiting for certmint to act on generation 2"
    )


# TrustBundles.


BUNDLE_KINDS = ("TrustBundle", "NamespacedTrustBundle")


@pytest.mark.parametrize("kind", BUNDLE_KINDS)
def test_a_synced_bundle_is_healthy(kind: str) -> None:
    status = conditions(
        SYNCED, ConditionStatus.TRUE, reasons.SYNCED, "2 certificates published to 3 namespaces"
    )
    assert health(kind, with_status(kind, status)) == Health(
        "Healthy", "2 certificates published to 3 namespaces"
    )


@pytest.mark.parametrize("kind", BUNDLE_KINDS)
@pytest.mark.parametrize(
    "reason",
    [
        reasons.SOURCE_UNAVAILABLE,
        reasons.INVALID_SOURCE,
        reasons.UNCONSTRAINED_ISSUER_CA,
        reasons.CONFIGMAP_CONFLICT,
        reasons.CONFIGMAP_CONTESTED,
        reasons.SECRET_CONFLICT,
        reasons.SECRET_CONTESTED,
        reasons.RESERVED_NAME,
        reasons.INVALID_SPEC,
        reasons.SOURCE_OUTSIDE_NAMESPACE,
    ],
)
def test_a_bundle_not_synced_is_degraded_with_the_reason(kind: str, reason: str) -> None:
    status = conditions(SYNCED, ConditionStatus.FALSE, reason, "see why")
    assert health(kind, with_status(kind, status)) == Health("Degraded", f"{reason}: see why")


@pytest.mark.parametrize("kind", BUNDLE_KINDS)
def test_a_bundle_without_status_is_progressing(kind: str) -> None:
    assert health(kind, with_status(kind, None)).status == "Progressing"


# The scripts' reason lists and the generated files.


@pytest.mark.parametrize("kind", argocd_cm.KINDS)
def test_every_in_progress_reason_is_one_certmint_reports(kind: str) -> None:
    text = argocd_cm.script(kind)
    tables = re.findall(r"local IN_PROGRESS_REASONS = \{(.*?)\}", text, re.DOTALL)
    assert len(tables) == 1, "one list of in-progress reasons per script"
    listed = re.findall(r"(\w+) = true", tables[0])
    known = {value for name, value in vars(reasons).items() if name.isupper() and isinstance(value, str)}
    assert set(listed) <= known
    assert set(listed) == ({reasons.ISSUER_NOT_READY} if kind == "Certificate" else set())


def test_the_generated_files_are_up_to_date() -> None:
    """`python tools/argocd_cm.py` writes them."""
    for copy, original in argocd_cm.COPIES.items():
        assert argocd_cm.script_path(copy).read_text() == argocd_cm.script(original)
    assert argocd_cm.ARGOCD_CM.read_text() == argocd_cm.argocd_cm()
    data = yaml.safe_load(argocd_cm.ARGOCD_CM.read_text())["data"]
    assert data == {
        f"resource.customizations.health.certmint.dev_{kind}": argocd_cm.script(kind)
        for kind in argocd_cm.KINDS
    }


def test_every_certmint_kind_has_a_health_script() -> None:
    assert set(argocd_cm.KINDS) == {resource.kind for resource in RESOURCES}


def test_without_lua_the_tests_fail_and_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(pytest.fail.Exception, match=r"lua5\.1 is not installed: `make system-deps` installs"):
        health("Certificate", with_status("Certificate", None))
