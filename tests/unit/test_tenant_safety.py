"""Tenant safety as pure rules: whose Secret may be written, what may be signed, what a bundle holds,
and how a duel with another writer decays (issue 17)."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509

from certmint.api import TrustBundle
from certmint.api.kinds import ISSUERS
from certmint.pki import (
    KeySpec,
    LeafRequest,
    PKIError,
    alt_names,
    assemble_bundle,
    certificates_to_pem,
    issue_leaf,
)
from certmint.planning import labels, reasons
from certmint.planning.bundles.targets import (
    ConfigMapContent,
    TargetPlan,
    configmap_keys,
    contested_targets,
    hold_back,
    reserved_name_refusal,
)
from certmint.planning.certificates.plan import contested_repair, plan_certificate
from certmint.planning.certificates.results import Issue, Wait
from certmint.planning.certificates.secret import issuer_annotations, secret_metadata
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.contest import (
    MAX_DELAY,
    Contest,
    DataWriter,
    contest,
    contest_annotations,
    repair_delay,
)
from certmint.planning.gates import Fail
from certmint.planning.identity import control_character_field
from certmint.planning.ownership import (
    belongs_to,
    issuer_ca_secret_names,
    may_reference_owner,
    ownership_annotations,
    password_secret_refusal,
    secret_refusal,
)
from certmint.planning.request import issuance_spec
from tests.unit.planning_fixtures import (
    NOW,
    explicit,
    issued_secret,
    make_ca,
    make_certificate,
    ready_issuer,
    with_data,
    with_signing,
)

CA = make_ca()
UID = "uid-web"


def markings(annotations: dict[str, str] | None = None, **secret_labels: str) -> SecretView:
    return SecretView(
        name="web-tls",
        labels={key.replace("_", "/"): value for key, value in secret_labels.items()},
        annotations=annotations or {},
    )


# Ownership of Secrets


def test_a_missing_secret_may_be_created_and_carry_an_owner_reference() -> None:
    assert secret_refusal("web", UID, "web-tls", None, frozenset()) is None
    assert may_reference_owner(None, UID)
    assert ownership_annotations(None, UID) == {labels.CERTIFICATE_UID: UID, labels.CREATED_FOR: UID}


def test_a_foreign_tls_secret_is_not_owned_and_the_refusal_says_how_to_adopt() -> None:
    foreign = markings({"kubernetes.io/description": "ingress certificate"})
    refusal = secret_refusal("web", UID, "web-tls", foreign, frozenset())
    assert refusal is not None
    assert refusal.reason == reasons.SECRET_NOT_OWNED
    assert f"kubectl annotate secret web-tls {labels.ALLOW_ADOPTION_BY}=web" in refusal.message


def test_ownership_is_by_uid_not_by_name() -> None:
    other_uid = markings({labels.CERTIFICATE_UID: "uid-old", labels.CERTIFICATE_NAME: "web"})
    assert not belongs_to(other_uid, "web", UID)
    assert secret_refusal("web", UID, "web-tls", other_uid, frozenset()) is not None
    mine = markings({labels.CERTIFICATE_UID: UID, labels.CERTIFICATE_NAME: "web"})
    assert secret_refusal("web", UID, "web-tls", mine, frozenset()) is None


def test_a_secret_of_an_older_certmint_is_recognised_by_its_role_and_name_marking() -> None:
    legacy = markings({labels.CERTIFICATE_NAME: "web"}, **{labels.SECRET_ROLE_LABEL: labels.ROLE_LEAF})
    assert belongs_to(legacy, "web", UID)
    name_only = markings({labels.CERTIFICATE_NAME: "web"})
    assert not belongs_to(name_only, "web", UID), "without certmint's role label, a name proves nothing"


def test_an_adoption_annotation_naming_the_certificate_allows_the_write_but_no_owner_reference() -> None:
    invited = markings({labels.ALLOW_ADOPTION_BY: "web"})
    assert secret_refusal("web", UID, "web-tls", invited, frozenset()) is None
    assert secret_refusal("other", UID, "web-tls", invited, frozenset()) is not None
    assert not may_reference_owner(invited, UID)
    assert ownership_annotations(invited, UID) == {labels.CERTIFICATE_UID: UID}
    adopted = markings({labels.ALLOW_ADOPTION_BY: "web", labels.CERTIFICATE_UID: UID})
    assert not may_reference_owner(adopted, UID), "adopted once, still never garbage-collected with us"
    created = markings({labels.CERTIFICATE_UID: UID, labels.CREATED_FOR: UID})
    assert may_reference_owner(created, UID)


@pytest.mark.parametrize(
    (ISSUERS.plural, "namespace", "expected"),
    [
        ([("Issuer", "a", {"metadata": {"name": "ca"}, "spec": {"selfSigned": {}}})], "a", {"ca-ca"}),
        (
            [("Issuer", "a", {"metadata": {"name": "x"}, "spec": {"selfSigned": {"secretName": "keys"}}})],
            "a",
            {"x-ca", "keys"},
        ),
        (
            [("Issuer", "a", {"metadata": {"name": "u"}, "spec": {"ca": {"secretName": "corp"}}})],
            "a",
            {"u-ca", "corp"},
        ),
        ([("Issuer", "b", {"metadata": {"name": "ca"}, "spec": {"selfSigned": {}}})], "a", set()),
        (
            [("ClusterIssuer", "", {"metadata": {"name": "root"}, "spec": {"ca": {"secretName": "r"}}})],
            "certmint",
            {"root-ca", "r"},
        ),
        (
            [("ClusterIssuer", "", {"metadata": {"name": "root"}, "spec": {"ca": {"secretName": "r"}}})],
            "a",
            set(),
        ),
        ([("Issuer", "a", {"metadata": {"name": "bad"}, "spec": "not an object"})], "a", {"bad-ca"}),
    ],
)
def test_issuer_ca_secret_names(
    issuers: list[tuple[str, str, dict[str, object]]], namespace: str, expected: set[str]
) -> None:
    assert issuer_ca_secret_names(issuers, namespace, "certmint") == frozenset(expected)


def test_an_issuers_ca_secret_is_never_a_leaf_target_existing_or_not_labelled_or_not() -> None:
    for secret in (None, markings(), markings({labels.ALLOW_ADOPTION_BY: "web"})):
        refusal = secret_refusal("web", UID, "ca-ca", secret, frozenset({"ca-ca"}))
        assert refusal is not None
        assert refusal.reason == reasons.SECRET_IS_ISSUER_CA
    labelled = markings({labels.CERTIFICATE_UID: UID}, **{labels.SECRET_ROLE_LABEL: labels.ROLE_CA})
    refusal = secret_refusal("web", UID, "anything", labelled, frozenset())
    assert refusal is not None
    assert refusal.reason == reasons.SECRET_IS_ISSUER_CA


def test_a_refusal_fails_the_plan_with_its_reason_and_retries() -> None:
    spec = issuance_spec(make_certificate(), "td")
    refusal = secret_refusal("web", UID, "ca-ca", None, frozenset({"ca-ca"}))
    plan = plan_certificate(spec, ready_issuer(CA), None, None, NOW, "s", secret_refusal=refusal)
    assert isinstance(plan, Fail)
    assert (plan.reason, plan.retryable) == (reasons.SECRET_IS_ISSUER_CA, True)


def test_a_secret_template_cannot_forge_certmints_markings() -> None:
    certificate = make_certificate(
        secretTemplate={
            "labels": {labels.SECRET_ROLE_LABEL: "ca", "team": "x"},
            "annotations": {labels.CREATED_FOR: "uid-victim", labels.ALLOW_ADOPTION_BY: "web", "keep": "me"},
        }
    )
    _, leaf = issue_leaf(LeafRequest(dns_names=("web.apps.svc",)), KeySpec(), CA, NOW)
    metadata = secret_metadata(
        certificate,
        leaf.serial_number,
        alt_names(leaf),
        issuance_spec(certificate, "td"),
        issuer_annotations(explicit(certificate).ref),
        {labels.CERTIFICATE_UID: UID},
    )
    assert metadata.labels == {labels.SECRET_ROLE_LABEL: labels.ROLE_LEAF, "team": "x"}
    assert labels.CREATED_FOR not in metadata.annotations
    assert labels.ALLOW_ADOPTION_BY not in metadata.annotations
    assert metadata.annotations["keep"] == "me"
    assert metadata.annotations[labels.CERTIFICATE_UID] == UID


def test_a_pkcs12_password_is_read_only_from_a_secret_that_opted_in() -> None:
    assert password_secret_refusal("p", markings()) is not None
    assert password_secret_refusal("p", markings({labels.PKCS12_PASSWORD: "false"})) is not None
    assert password_secret_refusal("p", markings({labels.PKCS12_PASSWORD: "true"})) is None
    assert password_secret_refusal("p", markings(None, **{labels.PKCS12_PASSWORD: "true"})) is None


# What may be signed


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"commonName": "api\x00.evil"}, "commonName"),
        ({"commonName": "line\nbreak"}, "commonName"),
        ({"organizations": ["ok", "bell\x07"]}, "organizations"),
        ({"commonName": "rtl\u202eexe.gpj"}, "commonName"),
        ({"dnsNames": ["a\tb.svc"]}, "dnsNames"),
        ({"uris": ["https://x/\x7f"]}, "uris"),
        ({"emailAddresses": ["a\r@b.c"]}, "emailAddresses"),
    ],
)
def test_control_characters_in_any_name_are_an_invalid_spec(spec: dict[str, Any], field: str) -> None:
    parsed = issuance_spec(make_certificate(**spec), "td")
    message = control_character_field(parsed)
    assert message is not None
    assert message.startswith(f"{field}: ")
    plan = plan_certificate(parsed, ready_issuer(CA), None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert (plan.reason, plan.retryable) == (reasons.INVALID_SPEC, False)


def test_a_sub_ca_is_issued_only_where_the_issuer_allows_it_and_with_path_length_zero() -> None:
    spec = issuance_spec(make_certificate(isCA=True), "td")
    denied = plan_certificate(spec, ready_issuer(CA), None, None, NOW, "s")
    assert isinstance(denied, Fail)
    assert denied.reason == reasons.POLICY_DENIED
    assert denied.message.startswith("allowCA:")
    allowed = plan_certificate(spec, with_signing(ready_issuer(CA), allow_ca=True), None, None, NOW, "s")
    assert isinstance(allowed, Issue)
    _, sub_ca = issue_leaf(spec.leaf, KeySpec(), CA, NOW)
    constraints = sub_ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)


# Trust bundles


def test_a_leaf_is_no_trust_anchor() -> None:
    _, leaf = issue_leaf(LeafRequest(common_name="leaf"), KeySpec(), CA, NOW)
    with pytest.raises(PKIError, match="is not a CA certificate"):
        assemble_bundle([certificates_to_pem([CA.certificate]), certificates_to_pem([leaf])])
    assert assemble_bundle([certificates_to_pem([CA.certificate])]).certificates == (CA.certificate,)


def test_configmap_names_kubernetes_publishes_are_reserved() -> None:
    refusal = reserved_name_refusal("kube-root-ca.crt")
    assert refusal is not None
    assert "published by Kubernetes" in refusal
    assert reserved_name_refusal("openshift-service-ca.crt") is not None
    assert reserved_name_refusal("shop-trust") is None
    # The same list is the CRD's admission rule.
    rules = TrustBundle.model_json_schema()["x-kubernetes-validations"]
    assert "'kube-root-ca.crt'" in rules[0]["rule"]


# Duels with another writer


def writer(manager: str, seconds: float, *keys: str) -> DataWriter:
    return DataWriter(manager=manager, time=NOW + timedelta(seconds=seconds), keys=frozenset(keys))


def test_no_other_writer_no_contest() -> None:
    assert contest([writer("certmint", 0, "tls.crt", "tls.key")], ["tls.crt"], {}, NOW) is None
    assert contest([writer("kubectl", 5, "other.key")], ["tls.crt"], {}, NOW) is None


def test_the_first_change_is_repaired_at_once() -> None:
    found = contest([writer("certmint", 0, "tls.crt"), writer("rogue", 60, "tls.crt")], ["tls.crt"], {}, NOW)
    assert found == Contest(writer="rogue", repairs=1, due=NOW)


def test_a_writer_that_keeps_changing_the_secret_meets_doubling_delays_up_to_five_minutes() -> None:
    annotations: dict[str, str] = {}
    ours = 0.0
    delays = []
    for _ in range(14):
        # The other writer changes the Secret a second after each repair.
        found = contest(
            [writer("certmint", ours, "tls.crt"), writer("rogue", ours + 1, "tls.crt")],
            ["tls.crt"],
            annotations,
            NOW + timedelta(seconds=ours + 1),
        )
        assert found is not None
        assert found.writer == "rogue"
        delay = (found.due - (NOW + timedelta(seconds=ours))).total_seconds()
        delays.append(delay)
        ours = max(ours + delay, ours + 1)
        annotations = contest_annotations(found)
    assert delays[:10] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert delays[10:] == [MAX_DELAY.total_seconds()] * 4
    assert repair_delay(0) == timedelta(0)


def test_a_writer_quiet_for_long_starts_the_count_over() -> None:
    found = contest(
        [writer("certmint", 0, "tls.crt"), writer("rogue", 3600, "tls.crt")],
        ["tls.crt"],
        {labels.CONTESTED_REPAIRS: "9"},
        NOW + timedelta(hours=1),
    )
    assert found is not None
    assert found.repairs == 1
    assert found.due == NOW + timedelta(hours=1)


def test_only_repairs_are_contested_never_what_the_user_asked_for() -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, CA)
    rogue = (writer("certmint", 0, "tls.crt"), writer("rogue", 1, "tls.crt"))
    damaged = replace(with_data(secret, tls_crt=b"garbage"), writers=rogue)
    plan = plan_certificate(spec, ready_issuer(CA), damaged, None, NOW, "s")
    assert isinstance(plan, Issue)
    assert contested_repair(plan, spec, damaged, NOW) is not None
    changed_spec = issuance_spec(make_certificate(duration="48h"), "td")
    plan = plan_certificate(changed_spec, ready_issuer(CA), damaged, None, NOW, "s")
    assert isinstance(plan, Issue)
    assert contested_repair(plan, changed_spec, damaged, NOW) is None, "a spec change is served at once"
    healthy = replace(secret, writers=rogue)
    wait = plan_certificate(spec, ready_issuer(CA), healthy, None, NOW, "s")
    assert isinstance(wait, Wait)
    assert contested_repair(wait, spec, healthy, NOW) is None


def test_a_contested_bundle_configmap_is_held_back_until_due() -> None:
    desired = ConfigMapContent({"ca.crt": "pem"}, {})
    plan = TargetPlan(write=("a", "b", "c"), delete=("d",))
    writers = {
        "a": (writer("certmint", 0, "ca.crt"), writer("rogue", 1, "ca.crt")),
        "b": (writer("certmint", 0, "ca.crt"),),
        "c": (writer("certmint", 0, "ca.crt"), writer("rogue", 3600, "ca.crt")),
    }
    annotations = {"a": {labels.CONTESTED_REPAIRS: "3"}, "c": {labels.CONTESTED_REPAIRS: "3"}}
    now = NOW + timedelta(seconds=2)
    contests = contested_targets(plan.write, writers, annotations, configmap_keys(desired), now)
    assert set(contests) == {"a", "c"}
    assert contests["a"].due == NOW + timedelta(seconds=4)
    assert contests["c"].repairs == 1, "quiet for an hour: starts over"
    held_plan, held = hold_back(plan, contests, now)
    assert held_plan == TargetPlan(write=("b", "c"), delete=("d",))
    assert set(held) == {"a"}
