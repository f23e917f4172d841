"""Issue 27, items 2 and 6, against the real API server and the running operator: an Issuer spec
that would rotate its CA in a loop is refused at admission for a real tenant; an Issuer at the
minimums rotates on its schedule and no faster while a canary stays Ready; a Certificate refused
for its 10-year duration does not stretch the overlap; rotate-ca during an overlap starts a new
rotation. Every wait ends on a positive signal; bounds are upper bounds that load only loosens."""

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, GROUP, ISSUERS, VERSION
from certmint.pki import load_certificates_pem
from certmint.pki.ca import BACKDATE
from certmint.planning import reasons
from certmint.planning.issuers.ca_secret import ACTIVATED_AT, RETIRES_AT
from certmint.planning.issuers.rotation import MIN_STEP
from tests.e2e.canary import assert_canary_ready, certmint_rules, tenant_client
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, json_object, metadata_of, wait_for

LOOPING: dict[str, Any] = {
    "caDuration": "1m",
    "rotation": {"rotateBeforePercentage": 90, "propagationDelay": "0s", "reissueWindow": "0s"},
}
"""The spec of the report: 1,573 events in 60 s on that Issuer before the fix."""

AT_THE_MINIMUMS: dict[str, Any] = {
    "caDuration": "5m",
    # 300 s x 23 - 60 s x 77 = 2,280 >= 100 x (2 x 5 s + 10 s): 78 would be refused.
    "rotation": {"rotateBeforePercentage": 77, "propagationDelay": "5s", "reissueWindow": "10s"},
}
DELAY = timedelta(seconds=5)
"""propagationDelay of both rotating Issuers below."""
ROTATION_REASONS = (reasons.CA_ROTATION_PREPARED, reasons.CA_ROTATION_ACTIVATED, reasons.CA_RETIRED)


def refusal(api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> str:
    """Creates the Issuer as the tenant; returns the API server's message, failing if it was admitted."""
    manifest = self_signed_issuer(namespace, name, **spec)
    objects = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as refused:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, ISSUERS.plural, manifest)
    assert refused.value.status == 422, refused.value
    assert refused.value.body is not None, "a refusal carries the API server's Status"
    return str(json.loads(refused.value.body)["message"])


def test_a_looping_issuer_spec_is_refused_at_admission_for_a_tenant(cluster: Cluster, namespace: str) -> None:
    tenant = tenant_client(cluster, namespace, certmint_rules(ISSUERS.plural))
    message = refusal(tenant, namespace, "loop", LOOPING)
    assert "caDuration must be at least 5m" in message
    assert "propagationDelay must be at least 5s" in message
    assert "reissueWindow must be at least 10s" in message
    # Each minimum alone, and a rotation due too soon with every field at or above its minimum.
    assert "caDuration must be at least 5m" in refusal(tenant, namespace, "short", {"caDuration": "299s"})
    delay = {"rotation": {"propagationDelay": "4s"}}
    assert "propagationDelay must be at least 5s" in refusal(tenant, namespace, "delay", delay)
    window = {"rotation": {"reissueWindow": "9s"}}
    assert "reissueWindow must be at least 10s" in refusal(tenant, namespace, "window", window)
    too_soon = {"caDuration": "1h", "rotation": {"rotateBeforePercentage": 90}}
    assert "rotation would be due too soon" in refusal(tenant, namespace, "soon", too_soon)
    one_more = {**AT_THE_MINIMUMS, "rotation": {**AT_THE_MINIMUMS["rotation"], "rotateBeforePercentage": 78}}
    assert "rotation would be due too soon" in refusal(tenant, namespace, "edge", one_more)
    # The same tenant may create Issuers: the refusals were the schema's, not RBAC's.
    client.CustomObjectsApi(tenant).create_namespaced_custom_object(
        GROUP, VERSION, namespace, ISSUERS.plural, self_signed_issuer(namespace, "edge", **AT_THE_MINIMUMS)
    )
    names = [
        item["metadata"]["name"]
        for item in json_object(
            cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, ISSUERS.plural)
        )["items"]
    ]
    assert names == ["edge"]


@dataclass
class VersionLog:
    """Every resourceVersion one Secret had, from a watch started before it existed."""

    cluster: Cluster
    namespace: str
    name: str
    versions: list[str] = field(default_factory=list)
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        version = ""
        try:
            while not self.stop.is_set():
                stream = watch.Watch().stream(
                    self.cluster.core.list_namespaced_secret,
                    self.namespace,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=version,
                    timeout_seconds=5,
                )
                for event in stream:
                    version = event["object"].metadata.resource_version
                    if not self.versions or self.versions[-1] != version:
                        self.versions.append(version)
                    if self.stop.is_set():
                        break
        except BaseException as error:
            self.error = error


@pytest.fixture
def ca_secret_versions(cluster: Cluster, namespace: str) -> Iterator[VersionLog]:
    log = VersionLog(cluster, namespace, "ca-ca")
    thread = threading.Thread(target=log.run, daemon=True)
    thread.start()
    yield log
    log.stop.set()
    thread.join(timeout=15)


def rotation_events(cluster: Cluster, namespace: str) -> list[str]:
    return [event.reason for event in cluster.events(namespace, "ca") if event.reason in ROTATION_REASONS]


@pytest.mark.timeout(400)
def test_an_issuer_at_the_minimums_rotates_on_schedule_and_no_faster(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, ca_secret_versions: VersionLog
) -> None:
    started = time.monotonic()
    cluster.apply(self_signed_issuer(namespace, **AT_THE_MINIMUMS))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    # While it rotates, another tenant's Certificate still becomes Ready.
    assert_canary_ready(cluster, operator_process)
    # Positive signal: two whole rotations retired.
    wait_for(
        lambda: (
            rotation_events(cluster, namespace).count(reasons.CA_RETIRED) >= 2 or ca_secret_versions.error
        ),
        300,
        1,
        what="two rotations retired",
    )
    assert ca_secret_versions.error is None, ca_secret_versions.error
    elapsed = time.monotonic() - started
    steps = rotation_events(cluster, namespace)
    # Each rotation starts no sooner than 2 x propagationDelay + reissueWindow (20 s) after its CA
    # was made, and each step follows the one before by at least MIN_STEP: in `elapsed` seconds
    # the schedule allows at most this many rotations, each of three steps.
    cycle = 2 * 5 + 10
    allowed_steps = 3 * (math.ceil(elapsed / cycle) + 1)
    assert len(steps) <= allowed_steps, f"{len(steps)} rotation steps in {elapsed:.0f} s"
    assert len(steps) <= math.ceil(elapsed / MIN_STEP.total_seconds()) + 1
    # The CA Secret: created once, then per step its write and the CRLs of the new set of CAs.
    wait_for(
        lambda: current_version(cluster, namespace) in ca_secret_versions.versions, 30, what="watch caught up"
    )
    writes = len(ca_secret_versions.versions)
    assert writes <= 2 * (len(steps) + 1) + 2, f"{writes} CA Secret versions for {len(steps)} steps"
    assert steps[:6] == [*ROTATION_REASONS, *ROTATION_REASONS], steps
    assert operator_process.alive()


def current_version(cluster: Cluster, namespace: str) -> str:
    return str(metadata_of(cluster.core.read_namespaced_secret("ca-ca", namespace)).resource_version)


def rotation_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    status = (cluster.get(ISSUERS.plural, namespace, "ca") or {}).get("status") or {}
    found: dict[str, Any] = status.get("rotation") or {}
    return found


def fingerprint(status: dict[str, object], slot: str) -> str | None:
    ca = status.get(slot)
    return str(ca["fingerprint"]) if isinstance(ca, dict) else None


def ca_annotations(cluster: Cluster, namespace: str) -> dict[str, str]:
    return dict(metadata_of(cluster.core.read_namespaced_secret("ca-ca", namespace)).annotations or {})


@pytest.mark.timeout(400)
def test_a_refused_certificate_does_not_stretch_the_overlap_and_rotate_ca_during_it_starts_a_new_rotation(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    # A 10-minute CA whose rotation starts 600 s - 660 s x 77% = 92 s after it was made.
    spec: dict[str, Any] = {
        "caDuration": "10m",
        "rotation": {"rotateBeforePercentage": 77, "propagationDelay": "5s", "reissueWindow": "10s"},
    }
    cluster.apply(self_signed_issuer(namespace, **spec))
    cluster.apply(certificate(namespace, "short", duration="3m"))
    cluster.apply(certificate(namespace, "decade", duration="87600h"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "short", "True")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "decade", "False", reasons.DURATION_EXCEEDS_ISSUER)
    assert cluster.secret_data(namespace, "decade-tls") is None, "refused: nothing was issued"
    leaf = load_certificates_pem((cluster.secret_data(namespace, "short-tls") or {})["tls.crt"])[0]
    issued_for = leaf.not_valid_after_utc - leaf.not_valid_before_utc - BACKDATE  # 3m
    first_ca = fingerprint((cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"], "ca")

    # (item 6) The scheduled rotation's overlap covers the issued 3-minute certificate, not the decade.
    wait_for(lambda: rotation_status(cluster, namespace).get("phase") == "Overlap", 240, 0.5, what="overlap")
    annotations = ca_annotations(cluster, namespace)
    activated = datetime.fromisoformat(annotations[ACTIVATED_AT])
    retires = datetime.fromisoformat(annotations[RETIRES_AT])
    assert retires - activated == issued_for + DELAY, (activated, retires, issued_for)
    previous_end = datetime.fromisoformat(str(rotation_status(cluster, namespace)["previousCa"]["notAfter"]))
    assert retires < previous_end, "not stretched to the old CA's own end"
    assert fingerprint(rotation_status(cluster, namespace), "previousCa") == first_ca
    second_ca = fingerprint((cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"], "ca")

    # rotate-ca during that overlap: a new rotation starts now, not after the overlap.
    cluster.plane.kubectl(
        "annotate", "issuers.certmint.dev", "ca", "-n", namespace, "certmint.dev/rotate-ca=incident-27"
    )

    def rotated_again() -> dict[str, object] | None:
        status = rotation_status(cluster, namespace)
        return status if fingerprint(status, "previousCa") == second_ca else None

    status = wait_for(
        rotated_again, 120, 0.5, what="the CA that signed at the request became the previous one"
    )
    assert datetime.now(retires.tzinfo) < retires, "it did not wait for the first overlap to end"
    third_ca = fingerprint((cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"], "ca")
    assert third_ca not in (first_ca, second_ca)
    assert fingerprint(status, "previousCa") != first_ca, "the older CA is no longer trusted"
    annotations = ca_annotations(cluster, namespace)
    activated = datetime.fromisoformat(annotations[ACTIVATED_AT])
    assert datetime.fromisoformat(annotations[RETIRES_AT]) - activated == DELAY, "requested: short overlap"
    reasons_seen = [event.reason for event in cluster.events(namespace, "ca")]
    assert reasons_seen.index(reasons.CA_ROTATION_REQUESTED) > reasons_seen.index(
        reasons.CA_ROTATION_ACTIVATED
    )
    wait_for(lambda: rotation_status(cluster, namespace).get("phase") == "Stable", 60, 0.5, what="retired")
    new_ca = load_certificates_pem((cluster.secret_data(namespace, "ca-ca") or {})["tls.crt"])[0]

    def signed_by_the_newest_ca() -> bool:
        leaf = load_certificates_pem((cluster.secret_data(namespace, "short-tls") or {})["tls.crt"])[0]
        try:
            leaf.verify_directly_issued_by(new_ca)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    wait_for(signed_by_the_newest_ca, 60, what="the leaf re-issued by the newest CA")
