"""Importing an existing root CA into a selfSigned issuer (spec.selfSigned.importFrom), as pure
decisions: where the source may be read from, whether it invites the issuer, whether it holds a root
CA certmint can keep, and how the imported CA rotates."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmint.api import ClusterIssuer, Issuer
from certmint.api.kinds import CLUSTER_ISSUERS, ISSUERS
from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    certificates_to_pem,
    create_root_ca,
    key_matches_certificate,
    key_spec_of,
)
from certmint.pki.keys import MAX_KEY_PEM_BYTES
from certmint.planning import labels, reasons
from certmint.planning.constraints import ClusterNames
from certmint.planning.issuers.ca import CAUnusable, foreign_ca_secret
from certmint.planning.issuers.ca_import import (
    MAX_IMPORT_CERTIFICATE_BYTES,
    ImportCA,
    ImportSource,
    import_source,
    plan_import,
)
from certmint.planning.issuers.ca_secret import IMPORTED_FROM, ca_secret_content, read_material
from certmint.planning.issuers.rotation import (
    Activate,
    Hold,
    Prepare,
    advance,
    plan_rotation,
    rotation_time,
    stable_material,
)
from tests.e2e.cert_manager import (
    Issued,
    PrivateKey,
    ca_secret_data,
    intermediate_ca,
    key_pem,
    new_key,
    root_ca,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SOURCE = ImportSource("apps", "root-ca")
ALLOWED = {labels.ALLOW_IMPORT_BY: "Issuer/ca"}


def issuer(kind: type[Issuer] = Issuer, **self_signed: Any) -> Issuer:
    metadata = {"name": "ca"} if kind is ClusterIssuer else {"name": "ca", "namespace": "apps"}
    return kind.model_validate({"metadata": metadata, "spec": {"selfSigned": self_signed}})


@pytest.fixture(scope="module")
def rsa_root() -> Issued:
    return root_ca(now=NOW)


@pytest.fixture(scope="module")
def ec_root() -> Issued:
    return root_ca("corp ec root", algorithm="EC", now=NOW)


def refused(
    data: dict[str, bytes], annotations: dict[str, str] | None = ALLOWED, now: datetime = NOW
) -> CAUnusable:
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, annotations, data, now)
    assert isinstance(plan, CAUnusable), plan
    # No refusal repeats what the Secret holds (its key above all).
    fragments = [value.decode(errors="replace")[40:80] for value in data.values()]
    assert not [fragment for fragment in fragments if fragment and fragment in plan.message]
    return plan


# Where the source may be read from.


def test_an_issuer_imports_only_from_its_own_namespace() -> None:
    own = issuer(importFrom={"name": "root-ca"})
    assert import_source(own, ISSUERS.kind, "apps", "certmint") == SOURCE
    spelled = issuer(importFrom={"name": "root-ca", "namespace": "apps"})
    assert import_source(spelled, ISSUERS.kind, "apps", "certmint") == SOURCE
    other = issuer(importFrom={"name": "root-ca", "namespace": "kube-system"})
    plan = import_source(other, ISSUERS.kind, "apps", "certmint")
    assert isinstance(plan, CAUnusable)
    assert plan.reason == reasons.CA_IMPORT_NOT_ALLOWED
    assert "kube-system" in plan.message
    assert "own namespace (apps)" in plan.message


def test_a_cluster_issuer_imports_from_the_operators_namespace_unless_it_names_one() -> None:
    default = issuer(ClusterIssuer, importFrom={"name": "root-ca"})
    assert import_source(default, CLUSTER_ISSUERS.kind, "", "certmint") == ImportSource("certmint", "root-ca")
    named = issuer(ClusterIssuer, importFrom={"name": "root-ca", "namespace": "cert-manager"})
    assert import_source(named, CLUSTER_ISSUERS.kind, "", "certmint") == ImportSource(
        "cert-manager", "root-ca"
    )


def test_an_issuer_without_import_from_imports_nothing() -> None:
    assert import_source(issuer(), ISSUERS.kind, "apps", "certmint") is None


# Whether the source invites this issuer.


def test_a_missing_source_is_reported_and_read_again() -> None:
    plan = refused({}, annotations=None)
    assert plan.reason == reasons.CA_IMPORT_SOURCE_NOT_FOUND
    assert "apps/root-ca" in plan.message


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {labels.ALLOW_IMPORT_BY: "Issuer/other"},
        {labels.ALLOW_IMPORT_BY: "ClusterIssuer/ca"},
        {labels.ALLOW_IMPORT_BY: "issuer/ca"},
        {labels.ALLOW_ADOPTION_BY: "ca"},
    ],
)
def test_only_the_annotation_naming_this_issuer_lets_it_import(
    rsa_root: Issued, annotations: dict[str, str]
) -> None:
    plan = refused(ca_secret_data(rsa_root), annotations)
    assert plan.reason == reasons.CA_IMPORT_NOT_ALLOWED
    assert "kubectl annotate secret -n apps root-ca certmint.dev/allow-import-by=Issuer/ca" in plan.message


def test_a_cluster_issuer_needs_the_annotation_naming_its_kind(rsa_root: Issued) -> None:
    data = ca_secret_data(rsa_root)
    source = ImportSource("certmint", "root-ca")
    wrong = plan_import(CLUSTER_ISSUERS.kind, "ca", source, ALLOWED, data, NOW)
    assert isinstance(wrong, CAUnusable)
    assert wrong.reason == reasons.CA_IMPORT_NOT_ALLOWED
    right = {labels.ALLOW_IMPORT_BY: "ClusterIssuer/ca"}
    assert isinstance(plan_import(CLUSTER_ISSUERS.kind, "ca", source, right, data, NOW), ImportCA)


# Whether it holds a root CA certmint can keep.


@pytest.mark.parametrize("which", ["rsa_root", "ec_root"])
def test_a_root_ca_in_cert_managers_shape_is_imported_as_it_is(
    which: str, request: pytest.FixtureRequest
) -> None:
    foreign: Issued = request.getfixturevalue(which)
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, ALLOWED, ca_secret_data(foreign), NOW)
    assert isinstance(plan, ImportCA)
    assert plan.source == SOURCE
    assert plan.ca.certificate == foreign.certificate, "the certificate is kept byte for byte"
    assert key_matches_certificate(plan.ca.private_key, foreign.certificate)
    assert plan.ca.root == foreign.certificate


def test_missing_keys_are_refused(rsa_root: Issued) -> None:
    for missing in ("tls.crt", "tls.key"):
        data = {k: v for k, v in ca_secret_data(rsa_root).items() if k != missing}
        plan = refused(data)
        assert plan.reason == reasons.CA_IMPORT_INVALID
        assert "must hold tls.crt and tls.key" in plan.message


def test_oversized_data_is_refused_by_its_size(rsa_root: Issued) -> None:
    # Padding after the certificate: it would parse, but is refused before anything is decoded.
    padded = rsa_root.certificate_pem + b"\n" * MAX_IMPORT_CERTIFICATE_BYTES
    plan = refused({**ca_secret_data(rsa_root), "tls.crt": padded})
    assert plan.reason == reasons.CA_IMPORT_INVALID
    assert f"tls.crt is {len(padded)} bytes" in plan.message
    big_key = rsa_root.key_pem + b"\n" * MAX_KEY_PEM_BYTES
    plan = refused({**ca_secret_data(rsa_root), "tls.key": big_key})
    assert plan.reason == reasons.CA_IMPORT_INVALID
    assert f"tls.key is {len(big_key)} bytes" in plan.message


def test_a_chain_or_a_bundle_in_tls_crt_is_refused(rsa_root: Issued, ec_root: Issued) -> None:
    two = certificates_to_pem([rsa_root.certificate, ec_root.certificate])
    plan = refused({**ca_secret_data(rsa_root), "tls.crt": two})
    assert plan.reason == reasons.CA_IMPORT_INVALID
    assert "exactly one certificate" in plan.message


def test_malformed_certificate_data_is_refused(rsa_root: Issued) -> None:
    broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    plan = refused({**ca_secret_data(rsa_root), "tls.crt": broken})
    assert plan.reason == reasons.CA_IMPORT_INVALID
    assert "malformed" in plan.message


def test_a_leaf_is_not_a_ca() -> None:
    not_ca = root_ca("not a ca", ca=False, now=NOW)
    plan = refused(ca_secret_data(not_ca))
    assert plan.reason == reasons.NOT_A_CA


def test_an_intermediate_ca_is_refused_as_not_self_signed(rsa_root: Issued) -> None:
    plan = refused(ca_secret_data(intermediate_ca(rsa_root)))
    assert plan.reason == reasons.CA_NOT_SELF_SIGNED
    assert "not self-signed" in plan.message


def test_a_certificate_named_as_its_own_issuer_but_signed_by_another_key_is_refused(
    rsa_root: Issued,
) -> None:
    # The subject equals the issuer, but another CA's key signed it: not a root.
    impostor = intermediate_ca(rsa_root, common_name="corp root")
    assert impostor.certificate.subject == impostor.certificate.issuer
    plan = refused(ca_secret_data(impostor))
    assert plan.reason == reasons.CA_NOT_SELF_SIGNED


def test_a_ca_outside_its_validity_is_refused() -> None:
    expired = root_ca(lifetime=timedelta(days=1), age=timedelta(days=2), now=NOW)
    assert refused(ca_secret_data(expired)).reason == reasons.CA_EXPIRED
    future = root_ca(age=-timedelta(days=1), now=NOW)
    assert refused(ca_secret_data(future)).reason == reasons.CA_EXPIRED


def test_a_key_that_is_not_the_cas_is_refused(rsa_root: Issued, ec_root: Issued) -> None:
    plan = refused({**ca_secret_data(rsa_root), "tls.key": ec_root.key_pem})
    assert plan.reason == reasons.CA_KEY_MISMATCH
    assert "not the key of the CA certificate" in plan.message


@pytest.mark.parametrize(
    ("algorithm", "size", "why"), [("RSA", 1024, "RSA key of 1024 bits"), ("EC", 521, "secp521r1")]
)
def test_a_key_certmint_does_not_support_is_refused_from_its_header(
    algorithm: str, size: int, why: str
) -> None:
    key = new_key(algorithm, size) if algorithm == "RSA" else ec.generate_private_key(ec.SECP521R1())
    foreign = Issued(_self_signed_with(key), key)
    plan = refused(ca_secret_data(foreign))
    assert plan.reason == reasons.CA_IMPORT_INVALID
    assert why in plan.message


def _self_signed_with(key: PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak root")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )


def test_an_encrypted_key_is_refused(rsa_root: Issued) -> None:
    encrypted = rsa_root.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    plan = refused({**ca_secret_data(rsa_root), "tls.key": encrypted})
    assert plan.reason == reasons.CA_IMPORT_INVALID
    assert "encrypted" in plan.message


# How the imported CA is kept and rotated.


def test_the_ca_secret_records_the_import_until_the_imported_ca_stops_signing(rsa_root: Issued) -> None:
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, ALLOWED, ca_secret_data(rsa_root), NOW)
    assert isinstance(plan, ImportCA)
    material = replace(stable_material(plan.ca), imported_from=str(SOURCE))
    content = ca_secret_content(material)
    assert content.annotations[IMPORTED_FROM] == "apps/root-ca"
    assert b"PRIVATE KEY" in content.data["tls.key"], "the key is kept (re-encoded as PKCS#8)"
    assert content.data["tls.crt"] == rsa_root.certificate_pem
    read = read_material(plan.ca, content.data, content.annotations, NOW)
    assert read.imported_from == "apps/root-ca"
    spec = issuer(caDuration="24h", rotation={"propagationDelay": "5m"})
    rotate_at = rotation_time(rsa_root.certificate, 34)
    prepare = plan_rotation(spec, read, "", timedelta(hours=1), rotate_at)
    assert isinstance(prepare, Prepare)
    prepared = advance(read, prepare, rotate_at, _generated(prepare, rotate_at))
    assert prepared.imported_from == "apps/root-ca", "the imported CA still signs while prepared"
    activate = plan_rotation(spec, prepared, "", timedelta(hours=1), prepare.activates_at)
    assert isinstance(activate, Activate)
    assert activate.retires_at == rsa_root.certificate.not_valid_after_utc, (
        "leaves certmint never saw keep their trust until the imported CA's own end"
    )
    overlap = advance(prepared, activate, prepare.activates_at, None)
    assert overlap.imported_from == ""
    assert overlap.previous == rsa_root.certificate, "the imported CA stays trusted through the overlap"
    assert IMPORTED_FROM not in ca_secret_content(overlap).annotations


def test_a_requested_rotation_distrusts_an_imported_ca_as_fast_as_any(rsa_root: Issued) -> None:
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, ALLOWED, ca_secret_data(rsa_root), NOW)
    assert isinstance(plan, ImportCA)
    material = replace(stable_material(plan.ca), imported_from=str(SOURCE))
    spec = issuer(rotation={"propagationDelay": "5m"})
    prepare = plan_rotation(spec, material, "incident", timedelta(hours=1), NOW)
    assert isinstance(prepare, Prepare)
    prepared = advance(material, prepare, NOW, _generated(prepare, NOW))
    activate = plan_rotation(spec, prepared, "incident", timedelta(hours=1), prepare.activates_at)
    assert activate == Activate(retires_at=prepare.activates_at + timedelta(minutes=5))


def _generated(step: Prepare, now: datetime) -> CertificateAuthority:
    return create_root_ca(step.request, now)


def test_an_imported_ca_rotates_on_its_own_lifetime_and_the_next_ca_follows_the_spec() -> None:
    # A 10-year CA, made 5 years ago: its rotation (34% left) is 6.6 years after its notBefore,
    # whatever caDuration says; the next CA is made from the spec (key, lifetime, name, constraints).
    ten_years = timedelta(days=3650)
    foreign = root_ca(lifetime=ten_years, age=timedelta(days=1825), now=NOW)
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, ALLOWED, ca_secret_data(foreign), NOW)
    assert isinstance(plan, ImportCA)
    spec = issuer(caDuration="2160h", commonName="shop CA", privateKey={"algorithm": "Ed25519"})
    material = stable_material(plan.ca)
    due = rotation_time(foreign.certificate, 34)
    assert due == foreign.certificate.not_valid_before_utc + ten_years * 0.66
    assert plan_rotation(spec, material, "", timedelta(0), NOW) == Hold(due)
    step = plan_rotation(spec, material, "", timedelta(0), due, names=ClusterNames())
    assert isinstance(step, Prepare)
    assert step.request.common_name == "shop CA"
    assert step.request.duration == timedelta(hours=2160)
    assert key_spec_of(_generated(step, due).private_key).algorithm == KeyAlgorithm.ED25519
    assert step.request.name_constraints.permitted.dns, "a namespaced Issuer's next CA is constrained"


def test_an_imported_ca_already_past_its_rotation_point_starts_rotating_at_once() -> None:
    # 90 days, 80 made: past 66% of its life. Rotation starts now, through the propagation delay.
    foreign = root_ca(lifetime=timedelta(days=90), age=timedelta(days=80), now=NOW)
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, ALLOWED, ca_secret_data(foreign), NOW)
    assert isinstance(plan, ImportCA)
    spec = issuer(rotation={"propagationDelay": "10m"})
    step = plan_rotation(spec, stable_material(plan.ca), "", timedelta(0), NOW)
    assert isinstance(step, Prepare)
    assert step.activates_at == NOW + timedelta(minutes=10)


def test_the_key_is_re_encoded_never_kept_as_the_source_wrote_it(rsa_root: Issued) -> None:
    # cert-manager writes PKCS#1; certmint's CA Secret holds PKCS#8, as for every CA it generates.
    assert b"BEGIN RSA PRIVATE KEY" in key_pem(rsa_root.key)
    plan = plan_import(ISSUERS.kind, "ca", SOURCE, ALLOWED, ca_secret_data(rsa_root), NOW)
    assert isinstance(plan, ImportCA)
    assert ca_secret_content(stable_material(plan.ca)).data["tls.key"].startswith(b"-----BEGIN PRIVATE KEY")


# A selfSigned issuer's own CA Secret: only one certmint created for it.


@pytest.mark.parametrize(
    ("kind", "namespace", "annotations", "refused"),
    [
        (
            "Issuer",
            "apps",
            {
                "certmint.dev/issuer-kind": "Issuer",
                "certmint.dev/issuer-namespace": "apps",
                "certmint.dev/issuer-name": "ca",
            },
            False,
        ),
        (
            "ClusterIssuer",
            "",
            {
                "certmint.dev/issuer-kind": "ClusterIssuer",
                "certmint.dev/issuer-namespace": "",
                "certmint.dev/issuer-name": "ca",
            },
            False,
        ),
        ("Issuer", "apps", {}, True),
        (
            "Issuer",
            "apps",
            {
                "certmint.dev/issuer-kind": "Issuer",
                "certmint.dev/issuer-namespace": "apps",
                "certmint.dev/issuer-name": "other",
            },
            True,
        ),
        (
            "Issuer",
            "apps",
            {
                "certmint.dev/issuer-kind": "ClusterIssuer",
                "certmint.dev/issuer-namespace": "",
                "certmint.dev/issuer-name": "ca",
            },
            True,
        ),
    ],
)
def test_a_selfsigned_issuer_uses_only_a_ca_secret_created_for_it(
    kind: str, namespace: str, annotations: dict[str, str], refused: bool
) -> None:
    refusal = foreign_ca_secret(kind, namespace, "ca", "ca-ca", annotations)
    assert (refusal is not None) == refused
    if refusal is not None:
        assert refusal.reason == reasons.CA_SECRET_NOT_OWNED
        assert f"{labels.ALLOW_IMPORT_BY}={kind}/ca" in refusal.message
