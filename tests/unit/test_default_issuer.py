"""The default issuer in planning: which issuer a Certificate without issuerRef resolves to, the
Default condition of the issuers marked default, and the spread re-issue when the default moves."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from certmint.api import Certificate
from certmint.api.certificate import IssuerKind, IssuerRef
from certmint.planning import labels, reasons
from certmint.planning.certificates.actions import Actions, Inputs, Keep, SignAndWrite, plan_actions
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.renewal import spread
from certmint.planning.certificates.results import Issue, Wait
from certmint.planning.defaults import Defaults, Resolved, default_standing, resolve_issuer
from certmint.planning.gates import Fail
from certmint.planning.request import IssuanceSpec, issuance_spec
from tests.unit.planning_fixtures import (
    NOW,
    FixtureSecret,
    explicit,
    issued_secret,
    make_ca,
    make_certificate,
    with_signing,
)
from tests.unit.planning_fixtures import ready_issuer as ready

ROOT = IssuerRef(name="root", kind=IssuerKind.CLUSTER_ISSUER)
LOCAL = IssuerRef(name="local", kind=IssuerKind.ISSUER)
FORMER_CA = make_ca("former default")
NEW_CA = make_ca("new default")
WINDOW = timedelta(minutes=10)
BECAME_DEFAULT = NOW + timedelta(hours=1)
NEW_DEFAULT = with_signing(ready(NEW_CA), default_change_window=WINDOW)


def follower(name: str = "web") -> Certificate:
    certificate = make_certificate(name=name)
    return certificate.model_copy(update={"spec": certificate.spec.model_copy(update={"issuer_ref": None})})


# The spec digest: what an explicit issuerRef recorded in 0.1.0 must stay byte for byte.


@pytest.mark.parametrize(
    ("spec", "digest"),
    [
        ({}, "52c1cdf6b0b7e5c137a8917a05290b56"),
        ({"issuerRef": {"name": "root", "kind": "ClusterIssuer"}}, "507c5238ce905ca6ed4f2517216f3481"),
        (
            {
                "name": "api",
                "dnsNames": ["a.example", "b.example"],
                "privateKey": {"algorithm": "RSA", "size": 3072},
                "additionalOutputFormats": [{"type": "DER"}],
            },
            "4ba37b9ad2ae1aec01be6f5cd40550c5",
        ),
    ],
)
def test_the_digest_of_an_explicit_issuer_ref_is_what_it_was_before_defaults(
    spec: dict[str, Any], digest: str
) -> None:
    """Pinned to what the code computed before the default issuer existed (release 0.1.0 too): a
    different digest would re-issue every Certificate on upgrade."""
    name = spec.pop("name", "web")
    assert issuance_spec(make_certificate(name=name, **spec), "td").digest == digest


def test_a_followers_digest_records_no_issuer_so_a_new_default_changes_nothing_in_it() -> None:
    digests = {issuance_spec(follower(), "td").digest, issuance_spec(follower(), "td").digest}
    assert len(digests) == 1
    assert digests != {issuance_spec(make_certificate(), "td").digest}


# Resolution.


def test_an_explicit_issuer_ref_is_never_affected_by_defaults() -> None:
    everything = Defaults("apps", issuers=("a", "b"), cluster_issuers=("x", "y"))
    assert resolve_issuer(ROOT, everything) == ROOT
    assert resolve_issuer(LOCAL, Defaults("apps")) == LOCAL


def test_the_one_default_cluster_issuer_serves_a_namespace_without_a_default_issuer() -> None:
    assert resolve_issuer(None, Defaults("apps", cluster_issuers=("root",))) == ROOT


def test_the_namespaces_default_issuer_wins_over_the_default_cluster_issuer() -> None:
    assert resolve_issuer(None, Defaults("apps", issuers=("local",), cluster_issuers=("root",))) == LOCAL


def test_two_default_issuers_in_the_namespace_are_ambiguous_and_never_fall_back() -> None:
    resolved = resolve_issuer(None, Defaults("apps", issuers=("b", "a"), cluster_issuers=("root",)))
    assert isinstance(resolved, Fail)
    assert resolved.reason == reasons.AMBIGUOUS_DEFAULT_ISSUER
    assert resolved.message.startswith("Issuer a and Issuer b are both marked default in namespace apps")
    assert "root" not in resolved.message


def test_two_default_cluster_issuers_are_ambiguous_and_named_both() -> None:
    resolved = resolve_issuer(None, Defaults("apps", cluster_issuers=("a", "b")))
    assert isinstance(resolved, Fail)
    assert resolved.reason == reasons.AMBIGUOUS_DEFAULT_ISSUER
    assert resolved.message.startswith("ClusterIssuer a and ClusterIssuer b are both marked default:")
    assert not resolved.retryable, "a default toggled again plans the followers again, not a backoff"


def test_many_defaults_are_named_up_to_a_few() -> None:
    names = tuple(f"issuer-{n:03}" for n in range(500))
    resolved = resolve_issuer(None, Defaults("apps", issuers=names))
    assert isinstance(resolved, Fail)
    assert "Issuer issuer-000, Issuer issuer-001, Issuer issuer-002 and 497 more are all marked" in (
        resolved.message
    )
    assert len(resolved.message) < 300


def test_no_default_waits_for_one() -> None:
    resolved = resolve_issuer(None, Defaults("apps"))
    assert isinstance(resolved, Fail)
    assert resolved.reason == reasons.NO_DEFAULT_ISSUER
    assert resolved.retryable
    assert "namespace apps" in resolved.message


def test_the_one_default_of_its_scope_says_so_and_two_name_each_other() -> None:
    alone = default_standing(IssuerKind.CLUSTER_ISSUER, "root", ("root",))
    assert (alone.is_default, alone.reason) == (True, reasons.DEFAULT_ISSUER)
    contested = default_standing(IssuerKind.CLUSTER_ISSUER, "b", ("a", "b"))
    assert (contested.is_default, contested.reason) == (False, reasons.AMBIGUOUS_DEFAULT_ISSUER)
    assert contested.message == "ClusterIssuer a and ClusterIssuer b are both marked default"
    local = default_standing(IssuerKind.ISSUER, "local", ("local",))
    assert local.is_default
    assert "its namespace" in local.message


# The spread re-issue when the default moves.


def former_default_secret(name: str = "web") -> tuple[Certificate, FixtureSecret, IssuanceSpec]:
    """A follower's Secret as the former default (ClusterIssuer root) issued it."""
    certificate = follower(name)
    secret, spec = issued_secret(certificate, FORMER_CA, signer=Resolved(ROOT, NOW))
    return certificate, secret, spec


def point(name: str = "web") -> datetime:
    return BECAME_DEFAULT + WINDOW * spread(f"uid-{name}")


def plan_former_default_follower(now: datetime) -> Actions:
    """The whole plan, at `now`, of the follower the former default issued, now that Issuer local
    has been the default since BECAME_DEFAULT."""
    certificate, secret, spec = former_default_secret()
    return plan_actions(
        Inputs(
            certificate,
            spec,
            NEW_DEFAULT,
            secret,
            None,
            None,
            {},
            now,
            serial_number=7,
            resolved=Resolved(LOCAL, BECAME_DEFAULT),
        )
    )


def test_a_follower_of_a_former_default_waits_for_its_point_in_the_window_staying_ready() -> None:
    _, secret, spec = former_default_secret()
    moved = Resolved(LOCAL, BECAME_DEFAULT)
    before = plan_certificate(
        spec, NEW_DEFAULT, secret, None, point() - timedelta(seconds=1), "uid-web", resolved=moved
    )
    assert isinstance(before, Wait)
    assert before.former_default
    assert before.renewal_time == point(), "its next look is its point"


def test_a_follower_of_a_former_default_is_re_issued_at_its_point() -> None:
    _, secret, spec = former_default_secret()
    moved = Resolved(LOCAL, BECAME_DEFAULT)
    due = plan_certificate(spec, NEW_DEFAULT, secret, None, point(), "uid-web", resolved=moved)
    assert isinstance(due, Issue)
    assert due.reason == reasons.DEFAULT_ISSUER_CHANGED
    assert "Issuer local" in due.message
    assert "ClusterIssuer root" in due.message


def test_the_points_of_followers_are_spread_over_the_window() -> None:
    points = {point(f"cert-{n}") for n in range(20)}
    assert len(points) == 20
    assert all(BECAME_DEFAULT <= moment < BECAME_DEFAULT + WINDOW for moment in points)


def test_while_it_waits_its_secret_keeps_naming_the_former_default_and_its_status_the_new_one() -> None:
    planned = plan_former_default_follower(BECAME_DEFAULT)
    assert isinstance(planned, Keep)
    # The fixture's Secret lacks the ownership marking, so its metadata is healed: not its issuer.
    assert planned.heal is not None
    recorded = (planned.heal.annotations[labels.ISSUER_NAME], planned.heal.annotations[labels.ISSUER_KIND])
    assert recorded == ("root", "ClusterIssuer"), "no heal names an issuer that did not sign it"
    assert planned.report.status.issuer_ref == LOCAL
    assert planned.report.renew_at == point()


def test_an_explicit_issuer_ref_signed_by_another_ca_is_re_issued_at_once() -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, FORMER_CA)
    plan = plan_certificate(spec, NEW_DEFAULT, secret, None, NOW, "uid-web", resolved=explicit(certificate))
    assert isinstance(plan, Issue)
    assert plan.reason == reasons.ISSUER_CHANGED


def test_a_follower_whose_secret_names_its_own_issuer_but_another_ca_is_re_issued_at_once() -> None:
    """Only a move of the default is spread: a foreign certificate under the resolved issuer's name
    is replaced as it always was."""
    certificate = follower()
    secret, spec = issued_secret(certificate, FORMER_CA, signer=Resolved(LOCAL))
    plan = plan_certificate(spec, NEW_DEFAULT, secret, None, NOW, "uid-web", resolved=Resolved(LOCAL, NOW))
    assert isinstance(plan, Issue)
    assert plan.reason == reasons.ISSUER_CHANGED


def test_a_follower_already_signed_by_its_default_waits_for_renewal_only() -> None:
    certificate = follower()
    secret, spec = issued_secret(certificate, NEW_CA, signer=Resolved(LOCAL))
    plan = plan_certificate(spec, NEW_DEFAULT, secret, None, NOW, "uid-web", resolved=Resolved(LOCAL, NOW))
    assert isinstance(plan, Wait)
    assert not plan.former_default


def test_a_followers_first_issuance_is_immediate_and_records_the_resolved_issuer() -> None:
    certificate = follower()
    planned = plan_actions(
        Inputs(
            certificate,
            issuance_spec(certificate, "td"),
            NEW_DEFAULT,
            None,
            None,
            None,
            {},
            NOW,
            serial_number=7,
            resolved=Resolved(ROOT, NOW),
        )
    )
    assert isinstance(planned, SignAndWrite)
    assert planned.why.reason == reasons.SECRET_MISSING
    assert planned.secret.annotations[labels.ISSUER_NAME] == "root"
    assert planned.secret.annotations[labels.ISSUER_KIND] == "ClusterIssuer"
    assert planned.report.status.issuer_ref == ROOT


def test_a_re_issue_by_the_new_default_records_it_on_the_secret() -> None:
    planned = plan_former_default_follower(point())
    assert isinstance(planned, SignAndWrite)
    assert planned.why.reason == reasons.DEFAULT_ISSUER_CHANGED
    assert planned.secret.annotations[labels.ISSUER_NAME] == "local"
    assert planned.secret.annotations[labels.ISSUER_KIND] == "Issuer"


def test_a_renewal_due_before_the_point_is_served_by_the_new_default() -> None:
    _, secret, spec = former_default_secret()
    late = Resolved(LOCAL, NOW + timedelta(days=30))
    plan = plan_certificate(
        spec, NEW_DEFAULT, secret, None, NOW + timedelta(hours=23), "uid-web", resolved=late
    )
    assert isinstance(plan, Issue)
    assert plan.reason == reasons.RENEWING
