"""Line and paragraph separators (U+2028, U+2029) are refused like control characters, in
Certificates and in CSR subjects: a name holding one displays as something it is not."""

import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certmint.planning import reasons
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue
from certmint.planning.csrs.plan import Deny
from certmint.planning.gates import Fail
from certmint.planning.identity import UNPRINTABLE_CATEGORIES, control_character_field
from certmint.planning.request import issuance_spec
from tests.limit_material import raw_csr
from tests.unit.planning_fixtures import NOW, make_ca, make_certificate, ready_issuer
from tests.unit.test_csr_planning import auto, csr_body, plan

CA = make_ca()
TD = "cluster.local"


def _plan(**spec: Any) -> object:
    certificate = make_certificate(namespace="a", dnsNames=["web.a.svc"], **spec)
    return plan_certificate(issuance_spec(certificate, TD), ready_issuer(CA), None, None, NOW, "s")


@pytest.mark.parametrize(
    ("spec", "character"),
    [
        ({"commonName": "web\u2028admin"}, "U+2028"),
        ({"commonName": "web\u2029admin"}, "U+2029"),
        ({"organizations": ["ops\u2028root"]}, "U+2028"),
        ({"commonName": "web\u0085admin"}, "U+0085"),
    ],
    ids=["cn-line-separator", "cn-paragraph-separator", "o-line-separator", "cn-next-line"],
)
def test_separators_in_a_certificate_are_an_invalid_spec(spec: dict[str, Any], character: str) -> None:
    plan = _plan(**spec)
    assert isinstance(plan, Fail)
    assert (plan.reason, plan.retryable) == (reasons.INVALID_SPEC, False)
    assert character in plan.message


def test_ordinary_spaces_stay_allowed() -> None:
    assert isinstance(_plan(commonName="web front end", organizations=["Ops Team"]), Issue)


# hypothesis types the categories as literal names: these are such names, known only at run time.
_unprintable = st.characters(categories=sorted(UNPRINTABLE_CATEGORIES))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(alphabet="abc ", max_size=5), bad=_unprintable)
def test_any_character_of_the_refused_categories_is_refused_in_a_common_name(prefix: str, bad: str) -> None:
    spec = issuance_spec(make_certificate(namespace="a", dnsNames=["web.a.svc"], commonName="x"), TD)
    message = control_character_field(replace(spec, leaf=replace(spec.leaf, common_name=prefix + bad)))
    assert message is not None
    assert f"U+{ord(bad):04X}" in message
    assert unicodedata.category(bad) in UNPRINTABLE_CATEGORIES


def test_a_csr_subject_with_a_line_separator_fails() -> None:
    request = raw_csr(common_name="web\u2028admin", uris=("spiffe://td/ns/team-a/sa/web",))
    decided = plan(csr_body(request))
    assert isinstance(decided, Fail)
    assert (decided.reason, decided.retryable) == (reasons.INVALID_SPEC, False)
    assert "U+2028" in decided.message


def test_a_pending_csr_with_a_paragraph_separator_is_denied() -> None:
    request = raw_csr(organizations=("ops\u2029root",), uris=("spiffe://td/ns/team-a/sa/web",))
    decided = plan(csr_body(request, conditions=()), issuer=auto())
    assert isinstance(decided, Deny)
    assert "U+2029" in decided.message
