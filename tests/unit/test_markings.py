"""Issue 27: what a Secret or ConfigMap means to certmint comes from certmint's own writes
(managedFields), never from labels a tenant can copy; a controller given forged markings wakes
nobody's issuer or bundle."""

from typing import Any

import pytest

from certmint.operator.config import OperatorConfig
from certmint.operator.controller import Controller
from certmint.operator.state import CLUSTER_ISSUER, ISSUER, TRUST_BUNDLE, Key
from certmint.planning import labels
from certmint.planning.markings import ca_secret_issuer, certmint_labels, marked_by_certmint
from tests.kubefake import FakeKube


def entry(manager: str, *label_keys: str) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": "Apply",
        "fieldsV1": {"f:metadata": {"f:labels": {f"f:{key}": {} for key in label_keys}}},
    }


def test_only_certmints_field_managers_own_markings() -> None:
    fields = [
        entry("kubectl-client-side-apply", labels.SECRET_ROLE_LABEL),
        entry("certmint", labels.TRUST_BUNDLE_LABEL),
        entry("certmint-watch", "other"),
        {"manager": "certmint"},  # no fieldsV1 at all
        "garbage",
    ]
    assert certmint_labels(fields) == {labels.TRUST_BUNDLE_LABEL, "other"}  # type: ignore[arg-type]
    assert certmint_labels(fields, frozenset({"certmint"})) == {labels.TRUST_BUNDLE_LABEL}  # type: ignore[arg-type]
    body = {"metadata": {"managedFields": fields}}
    assert not marked_by_certmint(body, labels.SECRET_ROLE_LABEL), "a tenant's own write of the label"
    assert marked_by_certmint(body, labels.TRUST_BUNDLE_LABEL)
    assert not marked_by_certmint({"metadata": {}}, labels.TRUST_BUNDLE_LABEL)
    assert not marked_by_certmint({}, labels.TRUST_BUNDLE_LABEL)


@pytest.mark.parametrize(
    ("secret_namespace", "annotations", "expected"),
    [
        (
            "shop",
            {labels.ISSUER_KIND: "Issuer", labels.ISSUER_NAMESPACE: "shop", labels.ISSUER_NAME: "ca"},
            ("Issuer", "shop", "ca"),
        ),
        (
            "evil",
            {labels.ISSUER_KIND: "Issuer", labels.ISSUER_NAMESPACE: "shop", labels.ISSUER_NAME: "ca"},
            None,
        ),
        (
            "certmint",
            {labels.ISSUER_KIND: "ClusterIssuer", labels.ISSUER_NAME: "root"},
            ("ClusterIssuer", "", "root"),
        ),
        ("evil", {labels.ISSUER_KIND: "ClusterIssuer", labels.ISSUER_NAME: "root"}, None),
        (
            "shop",
            {labels.ISSUER_KIND: "Other", labels.ISSUER_NAMESPACE: "shop", labels.ISSUER_NAME: "ca"},
            None,
        ),
        ("shop", {labels.ISSUER_KIND: "Issuer", labels.ISSUER_NAMESPACE: "shop"}, None),
    ],
)
def test_a_ca_secret_names_only_an_issuer_that_keeps_its_ca_there(
    secret_namespace: str, annotations: dict[str, str], expected: tuple[str, str, str] | None
) -> None:
    assert ca_secret_issuer(secret_namespace, annotations, "certmint") == expected


VERSIONS = iter(range(1, 1000))


def secret(namespace: str, annotations: dict[str, str], manager: str) -> dict[str, Any]:
    """A new resourceVersion each: every one is news to the controller."""
    return {
        "metadata": {
            "namespace": namespace,
            "name": "forged",
            "resourceVersion": str(next(VERSIONS)),
            "labels": {labels.SECRET_ROLE_LABEL: labels.ROLE_CA},
            "annotations": annotations,
            "managedFields": [entry(manager, labels.SECRET_ROLE_LABEL)],
        },
        "data": {},
    }


def controller() -> Controller:
    return Controller(kube=FakeKube(), config=OperatorConfig(namespace="certmint"))


def test_forged_markings_wake_nothing_and_certmints_own_wake_their_object() -> None:
    victim = {labels.ISSUER_KIND: ISSUER, labels.ISSUER_NAMESPACE: "shop", labels.ISSUER_NAME: "ca"}
    cluster = {labels.ISSUER_KIND: CLUSTER_ISSUER, labels.ISSUER_NAME: "root"}
    ctl = controller()
    ctl.secret_event("ADDED", secret("evil", victim, "kubectl"))
    ctl.secret_event("ADDED", secret("evil", victim, "certmint"))  # certmint's manager name, wrong place
    ctl.secret_event("ADDED", secret("evil", cluster, "certmint"))
    ctl.secret_event("ADDED", secret("shop", victim, "kubectl"))  # right place, tenant's write
    forged_map = {
        "metadata": {
            "namespace": "evil",
            "name": "victim",
            "labels": {labels.TRUST_BUNDLE_LABEL: "uid-victim"},
            "annotations": {labels.TRUST_BUNDLE_NAME: "victim"},
            "managedFields": [entry("kubectl", labels.TRUST_BUNDLE_LABEL)],
        }
    }
    ctl.configmap_event(forged_map)
    assert ctl.queue.busy() == 0, "nothing queued for forged markings"

    own_issuer = secret("shop", victim, "certmint")
    own_issuer["metadata"]["name"] = "ca-ca"
    own_cluster = secret("certmint", cluster, "certmint-watch")
    own_cluster["metadata"]["name"] = "root-ca"
    ctl.secret_event("ADDED", own_issuer)
    ctl.secret_event("ADDED", own_cluster)
    forged_map["metadata"]["managedFields"] = [entry("certmint", labels.TRUST_BUNDLE_LABEL)]
    ctl.configmap_event(forged_map)
    assert ctl.queue.busy() == 3
    assert ctl.queue.queued(Key(ISSUER, "shop", "ca"))
    assert ctl.queue.queued(Key(CLUSTER_ISSUER, "", "root"))
    assert ctl.queue.queued(Key(TRUST_BUNDLE, "", "victim"))
