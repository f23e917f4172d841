"""Issue 27: one broken source does not freeze a TrustBundle, a CA does not sign before every bundle
that trusts its issuer publishes it, and a namespaced Issuer's CA leaves its namespace only when
name-constrained. Pure planning: planning.bundles.sources and planning.issuers.rotation."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from certmint.api import Issuer
from certmint.api.trustbundle import BundleSource
from certmint.pki import CARequest, certificates_to_pem, create_root_ca
from certmint.pki.ca import key_usage
from certmint.planning import reasons
from certmint.planning.bundles.sources import (
    MAX_RECORDED_CRL_BYTES,
    LastPublished,
    SourcePublication,
    SourceRead,
    name_constrained,
    plan_sources,
    recorded_crls,
    source_id,
)
from certmint.planning.issuer_view import fingerprint
from certmint.planning.issuers.rotation import (
    REQUESTED_ACTIVATION_GRACE,
    Activate,
    Hold,
    Prepare,
    activation_deadline,
    advance,
    lagging_bundles,
    plan_rotation,
    rotation_policy,
    stable_material,
)
from tests.hand_made import hand_made_certificate

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(name: str, *, ca: bool = True, constrained: bool = False, days: int = 30) -> x509.Certificate:
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=ca, path_length=None), True),
        (key_usage(digital_signature=True, key_cert_sign=ca, crl_sign=ca), True),
    ]
    if constrained:
        extensions.append(
            (
                x509.NameConstraints(permitted_subtrees=[x509.DNSName("shop.svc")], excluded_subtrees=None),
                True,
            )
        )
    return hand_made_certificate(KEY, name, NOW - timedelta(days=1), NOW + timedelta(days=days), extensions)


def pem(*certificates: x509.Certificate) -> bytes:
    return certificates_to_pem(certificates)


# Sources: a tenant Issuer (namespaced, constrained) and a ClusterIssuer.
TENANT_OLD = certificate("tenant ca", constrained=True)
CLUSTER_OLD = certificate("cluster ca 1")
CLUSTER_NEXT = certificate("cluster ca 2")
TENANT = "Issuer/shop/ca"
CLUSTER = "ClusterIssuer/root"


def fingerprints(plan_certificates: tuple[x509.Certificate, ...]) -> set[str]:
    return {fingerprint(c) for c in plan_certificates}


def test_a_failing_source_keeps_its_last_published_cas_and_the_others_move_on() -> None:
    last = {TENANT: LastPublished(pem(TENANT_OLD).decode(), "TENANT-CRL\n"), CLUSTER: LastPublished("")}
    reads = [
        SourceRead(TENANT, None, problem="Issuer ca not found", issuer_namespace="shop"),
        SourceRead(CLUSTER, pem(CLUSTER_OLD, CLUSTER_NEXT), b"CLUSTER-CRL-2\n"),
    ]
    planned = plan_sources(reads, last, {"shop", "web"}, NOW)
    assert fingerprints(planned.content.certificates) == {
        fingerprint(TENANT_OLD),
        fingerprint(CLUSTER_OLD),
        fingerprint(CLUSTER_NEXT),
    }
    assert planned.crls == b"TENANT-CRL\nCLUSTER-CRL-2\n", (
        "the healthy CRL is the fresh one; the failing one kept"
    )
    tenant, cluster = planned.sources
    assert not tenant.fresh
    assert tenant.fingerprints == (fingerprint(TENANT_OLD),)
    assert cluster.fresh
    assert set(cluster.fingerprints) == {
        fingerprint(CLUSTER_OLD),
        fingerprint(CLUSTER_NEXT),
    }
    condition = planned.condition()
    assert condition is not None
    reason, message = condition
    assert reason == reasons.SOURCE_UNAVAILABLE
    assert TENANT in message
    assert "Issuer ca not found" in message
    assert "kept" in message
    assert CLUSTER not in message


def test_a_failing_source_never_published_adds_nothing_and_says_so() -> None:
    planned = plan_sources(
        [SourceRead(TENANT, None, problem="gone"), SourceRead(CLUSTER, pem(CLUSTER_OLD))], {}, {"web"}, NOW
    )
    assert fingerprints(planned.content.certificates) == {fingerprint(CLUSTER_OLD)}
    condition = planned.condition()
    assert condition is not None
    assert "nothing published for it yet" in condition[1]


def test_a_leaf_in_a_source_keeps_that_sources_last_cas_only() -> None:
    leaf = certificate("not a ca", ca=False)
    last = {"ConfigMap/infra/corp/ca.crt": LastPublished(pem(CLUSTER_OLD).decode())}
    planned = plan_sources(
        [SourceRead("ConfigMap/infra/corp/ca.crt", pem(leaf)), SourceRead(CLUSTER, pem(CLUSTER_NEXT))],
        last,
        {"web"},
        NOW,
    )
    assert fingerprints(planned.content.certificates) == {fingerprint(CLUSTER_OLD), fingerprint(CLUSTER_NEXT)}
    assert fingerprint(leaf) not in fingerprints(planned.content.certificates)
    condition = planned.condition()
    assert condition is not None
    assert condition[0] == reasons.INVALID_SOURCE


def test_an_expired_last_known_ca_is_dropped_at_its_end_not_before() -> None:
    short = certificate("short", days=1)
    end = short.not_valid_after_utc
    last = {TENANT: LastPublished(pem(short).decode())}
    reads = [SourceRead(TENANT, None, problem="gone")]
    assert plan_sources(reads, last, set(), end - timedelta(seconds=1)).content.certificates == (short,)
    assert plan_sources(reads, last, set(), end).content.certificates == ()


def test_a_bundle_without_per_source_records_keeps_what_no_healthy_source_accounts_for() -> None:
    """Upgrading: a status written before per-source records must not cost a failing source its CAs."""
    reads = [SourceRead(TENANT, None, problem="gone"), SourceRead(CLUSTER, pem(CLUSTER_NEXT))]
    copies = [TENANT_OLD, CLUSTER_OLD, TENANT_OLD]
    planned = plan_sources(reads, {}, {"web"}, NOW, copies)
    assert fingerprints(planned.content.certificates) == {
        fingerprint(TENANT_OLD),
        fingerprint(CLUSTER_OLD),
        fingerprint(CLUSTER_NEXT),
    }, "kept on the safe side: more trust, never less"
    assert planned.sources[0].fingerprints == tuple(
        sorted([fingerprint(TENANT_OLD), fingerprint(CLUSTER_OLD)])
    )
    recorded = {CLUSTER: LastPublished(pem(CLUSTER_OLD).decode())}
    assert fingerprint(TENANT_OLD) not in fingerprints(
        plan_sources(reads, recorded, {"web"}, NOW, copies).content.certificates
    ), "with records, only what was recorded for the source is kept"


def test_all_sources_healthy_is_synced() -> None:
    planned = plan_sources([SourceRead(CLUSTER, pem(CLUSTER_OLD))], {}, {"web"}, NOW)
    assert planned.condition() is None


@pytest.mark.parametrize(
    ("constrained", "targets", "published_ok"),
    [
        (False, {"shop"}, True),  # only its own namespace: published
        (False, set(), True),  # no target at all: nothing leaves the namespace
        (False, {"shop", "web"}, False),  # another namespace: refused
        (True, {"shop", "web"}, True),  # name-constrained: published everywhere
    ],
)
def test_a_namespaced_issuer_ca_leaves_its_namespace_only_when_name_constrained(
    constrained: bool, targets: set[str], published_ok: bool
) -> None:
    ca = certificate("tenant", constrained=constrained)
    assert name_constrained(ca) == constrained
    planned = plan_sources(
        [
            SourceRead(TENANT, pem(ca), b"CRL\n", issuer_namespace="shop"),
            SourceRead(CLUSTER, pem(CLUSTER_OLD)),
        ],
        {TENANT: LastPublished(pem(ca).decode())},
        targets,
        NOW,
    )
    assert (fingerprint(ca) in fingerprints(planned.content.certificates)) == published_ok
    assert fingerprint(CLUSTER_OLD) in fingerprints(planned.content.certificates)
    if published_ok:
        assert planned.condition() is None
    else:
        assert planned.crls == b"", "its CRLs go with it"
        condition = planned.condition()
        assert condition is not None
        assert condition[0] == reasons.UNCONSTRAINED_ISSUER_CA
        assert TENANT in condition[1]
        assert "NameConstraints" in condition[1]


def test_a_cluster_issuer_ca_needs_no_name_constraints() -> None:
    planned = plan_sources([SourceRead(CLUSTER, pem(CLUSTER_OLD))], {}, {"a", "b"}, NOW)
    assert planned.condition() is None
    assert planned.content.certificates == (CLUSTER_OLD,)


def test_source_ids_are_distinct_per_source() -> None:
    sources = [
        BundleSource.model_validate(s)
        for s in (
            {"issuer": {"name": "ca", "namespace": "shop"}},
            {"issuer": {"name": "ca", "kind": "ClusterIssuer"}},
            {"secret": {"namespace": "shop", "name": "ca"}},
            {"configMap": {"namespace": "shop", "name": "ca"}},
            {"configMap": {"namespace": "shop", "name": "ca", "key": "other"}},
            {"inlinePEM": "a"},
            {"inlinePEM": "b"},
        )
    ]
    ids = [source_id(s) for s in sources]
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["Issuer/shop/ca", "ClusterIssuer/ca"]


POOL = [(certificate(f"old {n}"), certificate(f"new {n}")) for n in range(5)]


@settings(max_examples=60, deadline=None)
@given(
    failing=st.lists(st.booleans(), min_size=5, max_size=5),
    known=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_property_published_holds_last_known_of_failing_and_current_of_healthy(
    failing: list[bool], known: list[bool]
) -> None:
    reads = []
    last = {}
    for n, (old, new) in enumerate(POOL):
        sid = f"ConfigMap/ns/s{n}/ca.crt"
        if known[n]:
            last[sid] = LastPublished(pem(old).decode(), f"CRL{n}\n")
        reads.append(SourceRead(sid, None, problem="broken") if failing[n] else SourceRead(sid, pem(new)))
    planned = plan_sources(reads, last, {"web"}, NOW)
    got = fingerprints(planned.content.certificates)
    expected = {fingerprint(new) for (_, new), f in zip(POOL, failing, strict=True) if not f} | {
        fingerprint(old) for (old, _), f, k in zip(POOL, failing, known, strict=True) if f and k
    }
    assert got == expected, "healthy sources as now, failing ones as last published, nothing else"
    for n, source in enumerate(planned.sources):
        assert source.fresh == (not failing[n])
        assert (f"CRL{n}\n".encode() in planned.crls) == (failing[n] and known[n])
    assert (planned.condition() is None) == (not any(failing))


# CA rotation: PREPARED → Activate waits for lagging bundles.


def issuer(**rotation: object) -> Issuer:
    return Issuer.model_validate(
        {
            "metadata": {"name": "ca", "namespace": "apps"},
            "spec": {
                "selfSigned": {"caDuration": "60m", "rotation": {"propagationDelay": "20s", **rotation}}
            },
        }
    )


SPEC = issuer(rotateBeforePercentage=50, reissueWindow="30s")
LONGEST = timedelta(minutes=5)


def prepared(requested: str = ""):  # type: ignore[no-untyped-def]
    ca = create_root_ca(CARequest("ca", timedelta(minutes=60)), NOW)
    material = stable_material(ca)
    step = plan_rotation(
        SPEC, material, requested, LONGEST, NOW if requested else NOW + timedelta(minutes=31)
    )
    assert isinstance(step, Prepare)
    at = NOW if requested else NOW + timedelta(minutes=31)
    return advance(material, step, at, create_root_ca(step.request, at)), step


def test_activation_waits_for_a_bundle_that_publishes_the_current_ca_only() -> None:
    material, step = prepared()
    current, following = fingerprint(material.current.root), fingerprint(material.next.root)
    published = {
        "shared": frozenset({current}),
        "fresh": frozenset({current, following}),
        "other": frozenset(),
    }
    assert lagging_bundles(material, published) == ("shared",), (
        "a bundle without the current CA holds nothing back"
    )
    deadline = activation_deadline(material, rotation_policy(SPEC), LONGEST)
    # the current CA ends at +60m: the latest activation leaves a longest leaf plus the delay before it
    assert deadline == material.current.certificate.not_valid_after_utc - LONGEST - timedelta(seconds=20)
    assert plan_rotation(SPEC, material, "", LONGEST, step.activates_at - timedelta(seconds=1)) == Hold(
        step.activates_at
    ), "before the propagation delay nothing changes"
    assert plan_rotation(SPEC, material, "", LONGEST, step.activates_at, published=published) == Hold(
        deadline, ("shared",)
    )
    assert plan_rotation(
        SPEC, material, "", LONGEST, deadline - timedelta(seconds=1), published=published
    ) == Hold(deadline, ("shared",))
    forced = plan_rotation(SPEC, material, "", LONGEST, deadline, published=published)
    assert isinstance(forced, Activate)
    assert forced.lagging == ("shared",), "the bound passed: it signs, and names the laggard"
    caught_up = {**published, "shared": frozenset({current, following})}
    step2 = plan_rotation(SPEC, material, "", LONGEST, step.activates_at, published=caught_up)
    assert isinstance(step2, Activate)
    assert step2.lagging == ()
    assert isinstance(plan_rotation(SPEC, material, "", LONGEST, step.activates_at), Activate), "no bundles"


def test_a_requested_rotation_waits_one_more_propagation_delay_but_at_least_a_minute() -> None:
    material, step = prepared(requested="now")
    current = fingerprint(material.current.root)
    published = {"shared": frozenset({current})}
    deadline = activation_deadline(material, rotation_policy(SPEC), LONGEST)
    assert deadline == step.activates_at + REQUESTED_ACTIVATION_GRACE, "20 s delay: the minute applies"
    slow = issuer(propagationDelay="5m")
    assert activation_deadline(material, rotation_policy(slow), LONGEST) == step.activates_at + timedelta(
        minutes=5
    )
    assert plan_rotation(SPEC, material, "", LONGEST, step.activates_at, published=published) == Hold(
        deadline, ("shared",)
    )
    assert isinstance(plan_rotation(SPEC, material, "", LONGEST, deadline, published=published), Activate)


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(min_value=0, max_value=3600), lag=st.booleans())
def test_property_no_activation_with_a_laggard_before_the_deadline(offset: int, lag: bool) -> None:
    material, step = PREPARED
    current, following = fingerprint(material.current.root), fingerprint(material.next.root)
    published = {"b": frozenset({current} if lag else {current, following})}
    now = step.activates_at + timedelta(seconds=offset)
    result = plan_rotation(SPEC, material, "", LONGEST, now, published=published)
    deadline = activation_deadline(material, rotation_policy(SPEC), LONGEST)
    if lag and now < deadline:
        assert result == Hold(deadline, ("b",))
    else:
        assert isinstance(result, Activate)


PREPARED = prepared()


def _publication(name: str, crl_bytes: int) -> SourcePublication:
    return SourcePublication(name, (), b"x" * crl_bytes, reasons.SYNCED)


def test_the_status_records_crls_within_one_budget_and_always_the_cas() -> None:
    exactly = _publication("a", MAX_RECORDED_CRL_BYTES)
    assert recorded_crls([exactly]) == (exactly.crls,), "the whole budget fits"
    over = _publication("a", MAX_RECORDED_CRL_BYTES + 1)
    assert recorded_crls([over]) == (b"",)
    small, large, last = (
        _publication("a", 10),
        _publication("b", MAX_RECORDED_CRL_BYTES - 5),
        _publication("c", 5),
    )
    assert recorded_crls([small, large, last]) == (small.crls, b"", last.crls), "what fits is kept, in order"


@given(st.lists(st.integers(min_value=0, max_value=MAX_RECORDED_CRL_BYTES), max_size=8))
def test_property_recorded_crls_never_exceed_the_budget(sizes: list[int]) -> None:
    publications = [_publication(str(number), size) for number, size in enumerate(sizes)]
    recorded = recorded_crls(publications)
    assert sum(len(crls) for crls in recorded) <= MAX_RECORDED_CRL_BYTES
    assert all(
        kept in (b"", publication.crls) for kept, publication in zip(recorded, publications, strict=True)
    )
