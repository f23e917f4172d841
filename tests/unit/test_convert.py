"""`certmint convert`, field by field: what each cert-manager and trust-manager field becomes, or
why it is refused. Pure: the conversion module, and the command on files."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from certmint.cli import cluster
from certmint.cli.main import cli
from certmint.cli.output import EXIT_FAILED_CHECK, EXIT_NOT_FOUND
from certmint.convert import CAIssuers, Conversion, NotManifests, Options, convert, parse_documents
from certmint.convert.certificates import CERTIFICATE_FIELDS
from certmint.planning.labels import ALLOW_IMPORT_BY, PKCS12_PASSWORD
from tests.convert_corpus import ABSORBED, CORPUS, WRITTEN, expected_refusals, refusal_line_parts

NS = "shop"
CA_ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "ca", "namespace": NS},
    "spec": {"ca": {"secretName": "root"}},
}

# Every field of cert-manager's Certificate spec (cert-manager.io/v1 API reference), each with a value
# that means something, written here for this test.
EVERY_FIELD: dict[str, Any] = {
    "secretName": "web-tls",
    "issuerRef": {"name": "ca", "kind": "Issuer", "group": "cert-manager.io"},
    "commonName": "web",
    "dnsNames": ["web.shop.svc"],
    "ipAddresses": ["10.0.0.1"],
    "uris": ["spiffe://cluster.local/ns/shop/sa/web"],
    "emailAddresses": ["web@shop.example"],
    "duration": "720h",
    "renewBefore": "240h",
    "renewBeforePercentage": 30,
    "usages": ["server auth"],
    "isCA": True,
    "privateKey": {"algorithm": "ECDSA", "size": 384, "rotationPolicy": "Never", "encoding": "PKCS8"},
    "secretTemplate": {"labels": {"a": "b"}, "annotations": {"c": "d"}},
    "keystores": {
        "pkcs12": {
            "create": True,
            "passwordSecretRef": {"name": "pw", "key": "password"},
            "profile": "Modern",
        },
        "jks": {"create": True, "passwordSecretRef": {"name": "pw", "key": "password"}},
    },
    "additionalOutputFormats": [{"type": "DER"}],
    "subject": {"organizations": ["Shop"], "countries": ["DE"]},
    "literalSubject": "CN=web",
    "otherNames": [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "web@shop.example"}],
    "nameConstraints": {"critical": True, "permitted": {"dnsDomains": ["shop.svc"]}},
    "revisionHistoryLimit": 2,
    "encodeUsagesInRequest": False,
}


def cm_certificate(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"secretName": f"{name}-tls", "issuerRef": {"name": "ca"}, "dnsNames": ["web.shop.svc"]}
        | spec,
    }


def run(*objects: dict[str, Any], options: Options | None = None) -> Conversion:
    return convert(objects, options or Options())


def written(conversion: Conversion, kind: str, name: str) -> dict[str, Any]:
    found = [m for m in conversion.manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, conversion)
    return found[0]


def spec_of(conversion: Conversion, kind: str = "Certificate", name: str = "web") -> dict[str, Any]:
    return written(conversion, kind, name)["spec"]


def refused(conversion: Conversion) -> set[tuple[str, str]]:
    return {(str(refusal.source), refusal.field) for refusal in conversion.refusals}


def notes(conversion: Conversion) -> str:
    return "\n".join(str(note) for note in conversion.notes)


def test_the_field_list_is_cert_managers() -> None:
    assert set(EVERY_FIELD) == set(CERTIFICATE_FIELDS)


@pytest.mark.parametrize("field", sorted(EVERY_FIELD))
def test_every_field_of_the_certificate_spec_is_converted_or_refused_or_noted(field: str) -> None:
    minimal = {"secretName": "web-tls", "issuerRef": {"name": "ca"}}
    without_field = {key: value for key, value in minimal.items() if key != field}
    base = {**cm_certificate(), "spec": without_field}
    with_field = {**cm_certificate(), "spec": without_field | {field: EVERY_FIELD[field]}}
    before = run(CA_ISSUER, base)
    after = run(CA_ISSUER, with_field)
    said = [str(finding) for finding in (*after.refusals, *after.notes)]
    spoken_of = [line for line in said if f"spec.{field}" in line]
    changed = after.manifests != before.manifests
    assert spoken_of or changed, f"spec.{field} was dropped without a word"
    if not spoken_of:  # converted: the certmint Certificate carries it
        assert not after.refusals
        certificates = [m for m in after.manifests if m["kind"] == "Certificate"]
        assert certificates
        assert certificates != [m for m in before.manifests if m["kind"] == "Certificate"]


def test_a_field_cert_manager_does_not_have_is_refused_not_dropped() -> None:
    conversion = run(CA_ISSUER, cm_certificate(futureField={"x": 1}))
    assert refused(conversion) == {(f"Certificate {NS}/web", "spec.futureField")}
    assert conversion.manifests == (written(conversion, "Issuer", "ca"),)


def test_names_lifetime_and_subject_organizations_carry_over() -> None:
    spec = spec_of(
        run(
            CA_ISSUER,
            cm_certificate(
                commonName="web",
                ipAddresses=["10.0.0.1"],
                uris=["spiffe://cluster.local/ns/shop/sa/web"],
                emailAddresses=["web@shop.example"],
                duration="720h",
                renewBefore="240h",
                subject={"organizations": ["Shop"]},
            ),
        )
    )
    assert spec["secretName"] == "web-tls"
    assert spec["commonName"] == "web"
    assert spec["dnsNames"] == ["web.shop.svc"]
    assert spec["ipAddresses"] == ["10.0.0.1"]
    assert spec["uris"] == ["spiffe://cluster.local/ns/shop/sa/web"]
    assert spec["emailAddresses"] == ["web@shop.example"]
    assert spec["organizations"] == ["Shop"]
    assert (spec["duration"], spec["renewBefore"]) == ("720h", "240h")


def test_cert_managers_defaults_are_written_out_where_certmints_differ() -> None:
    spec = spec_of(run(CA_ISSUER, cm_certificate()))
    assert spec["duration"] == "2160h", "cert-manager's 90 days, not certmint's 24h"
    assert spec["privateKey"] == {"algorithm": "RSA"}, "cert-manager's RSA, not certmint's ECDSA"
    assert "usages" not in spec


def test_renew_before_percentage() -> None:
    assert spec_of(run(CA_ISSUER, cm_certificate(renewBeforePercentage=25)))["renewBeforePercentage"] == 25


@pytest.mark.parametrize(
    ("usages", "expected"),
    [
        (["signing", "key encipherment"], ["digital signature", "key encipherment"]),
        (["s/mime", "email protection"], ["email protection"]),
        (["server auth", "client auth", "code signing"], ["server auth", "client auth", "code signing"]),
        (["cert sign", "crl sign", "digital signature"], ["cert sign", "crl sign", "digital signature"]),
    ],
)
def test_usages_are_mapped_to_certmints_names(usages: list[str], expected: list[str]) -> None:
    assert spec_of(run(CA_ISSUER, cm_certificate(usages=usages)))["usages"] == expected


@pytest.mark.parametrize(
    "usage", ["content commitment", "key agreement", "ocsp signing", "any", "timestamping"]
)
def test_a_usage_without_equivalent_is_refused(usage: str) -> None:
    conversion = run(CA_ISSUER, cm_certificate(usages=["server auth", usage]))
    assert refused(conversion) == {(f"Certificate {NS}/web", "spec.usages[1]")}
    assert usage in str(conversion.refusals[0])
    assert [m["kind"] for m in conversion.manifests] == ["Issuer"], "a refused object is not written"


def test_issuer_ref_kinds_and_groups() -> None:
    cluster = run(
        cm_certificate(issuerRef={"name": "corp", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    )
    assert spec_of(cluster)["issuerRef"] == {"name": "corp", "kind": "ClusterIssuer"}
    default = run(cm_certificate(issuerRef={"name": "ca"}))
    assert spec_of(default)["issuerRef"] == {"name": "ca", "kind": "Issuer"}
    external = run(
        cm_certificate(issuerRef={"name": "pca", "kind": "AWSPCAIssuer", "group": "awspca.cert-manager.io"})
    )
    assert refused(external) == {(f"Certificate {NS}/web", "spec.issuerRef.group")}
    assert not external.manifests


def test_is_ca_from_an_issuer_gives_that_issuer_allow_ca() -> None:
    conversion = run(CA_ISSUER, cm_certificate(isCA=True))
    assert spec_of(conversion)["isCA"] is True
    assert spec_of(conversion, "Issuer", "ca")["allowCA"] is True
    assert "allowCA: true" in notes(conversion)
    without = run(CA_ISSUER, cm_certificate())
    assert "allowCA" not in spec_of(without, "Issuer", "ca")


def test_is_ca_from_a_cluster_issuer_is_refused_not_granted() -> None:
    cluster_issuer = {**CA_ISSUER, "kind": "ClusterIssuer", "metadata": {"name": "corp"}}
    conversion = run(
        cluster_issuer, cm_certificate(isCA=True, issuerRef={"name": "corp", "kind": "ClusterIssuer"})
    )
    assert refused(conversion) == {(f"Certificate {NS}/web", "spec.isCA")}
    assert "allowCA" not in spec_of(conversion, "ClusterIssuer", "corp")


def test_private_key() -> None:
    key = {"algorithm": "ECDSA", "size": 384, "rotationPolicy": "Never", "encoding": "PKCS8"}
    assert spec_of(run(CA_ISSUER, cm_certificate(privateKey=key)))["privateKey"] == key
    ed25519 = {"algorithm": "Ed25519"}
    assert spec_of(run(CA_ISSUER, cm_certificate(privateKey=ed25519)))["privateKey"] == ed25519


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ({"algorithm": "ECDSA", "size": 521}, "spec.privateKey.size"),
        ({"algorithm": "RSA", "size": 8192}, "spec.privateKey.size"),
        ({"algorithm": "DSA"}, "spec.privateKey.algorithm"),
        ({"encoding": "PKCS12"}, "spec.privateKey.encoding"),
        ({"rotationPolicy": "Sometimes"}, "spec.privateKey.rotationPolicy"),
    ],
)
def test_a_key_certmint_does_not_make_is_refused(key: dict[str, Any], field: str) -> None:
    assert refused(run(CA_ISSUER, cm_certificate(privateKey=key))) == {(f"Certificate {NS}/web", field)}


def test_secret_template_and_output_formats() -> None:
    template = {"labels": {"team": "a"}, "annotations": {"backup": "skip"}}
    formats = [{"type": "CombinedPEM"}, {"type": "DER"}]
    spec = spec_of(run(CA_ISSUER, cm_certificate(secretTemplate=template, additionalOutputFormats=formats)))
    assert spec["secretTemplate"] == template
    assert spec["additionalOutputFormats"] == formats
    bad = run(CA_ISSUER, cm_certificate(additionalOutputFormats=[{"type": "PKCS7"}]))
    assert refused(bad) == {(f"Certificate {NS}/web", "spec.additionalOutputFormats[0].type")}


def test_pkcs12_keystore_and_the_label_its_password_needs() -> None:
    reference = {"name": "pw", "key": "password"}
    conversion = run(
        CA_ISSUER,
        cm_certificate(
            keystores={"pkcs12": {"create": True, "passwordSecretRef": reference, "profile": "Modern"}}
        ),
    )
    assert spec_of(conversion)["keystores"] == {
        "pkcs12": {"create": True, "passwordSecretRef": reference, "profile": "Modern"}
    }
    assert f'label Secret pw {PKCS12_PASSWORD}="true"' in notes(conversion)


def test_pkcs12_without_profile_is_cert_managers_rc2_and_becomes_legacy_des() -> None:
    conversion = run(
        CA_ISSUER, cm_certificate(keystores={"pkcs12": {"create": True, "passwordSecretRef": {"name": "pw"}}})
    )
    assert spec_of(conversion)["keystores"]["pkcs12"]["profile"] == "LegacyDES"
    assert "LegacyRC2" in notes(conversion)


@pytest.mark.parametrize(
    ("keystores", "field"),
    [
        ({"jks": {"create": True, "passwordSecretRef": {"name": "pw"}}}, "spec.keystores.jks"),
        (
            {"pkcs12": {"create": True, "passwordSecretRef": {"name": "pw"}, "profile": "LegacyRC2"}},
            "spec.keystores.pkcs12.profile",
        ),
        ({"pkcs12": {"create": True, "password": "literal"}}, "spec.keystores.pkcs12.password"),
    ],
)
def test_keystores_without_equivalent_are_refused(keystores: dict[str, Any], field: str) -> None:
    conversion = run(CA_ISSUER, cm_certificate(keystores=keystores))
    assert (f"Certificate {NS}/web", field) in refused(conversion)
    assert "Certificate" not in [m["kind"] for m in conversion.manifests]


def test_jks_refusal_reads_as_the_issue_says() -> None:
    conversion = run(CA_ISSUER, cm_certificate(keystores={"jks": {"create": True}}))
    assert str(conversion.refusals[0]).startswith(
        f"refused Certificate {NS}/web: spec.keystores.jks: JKS keystores have no certmint equivalent"
    )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"literalSubject": "CN=web,O=Shop"}, "spec.literalSubject"),
        ({"otherNames": [{"oid": "1.2.3", "utf8Value": "x"}]}, "spec.otherNames"),
        ({"subject": {"organizationalUnits": ["IT"]}}, "spec.subject.organizationalUnits"),
        ({"subject": {"countries": ["DE"]}}, "spec.subject.countries"),
        ({"subject": {"localities": ["Berlin"]}}, "spec.subject.localities"),
        ({"subject": {"provinces": ["BE"]}}, "spec.subject.provinces"),
        ({"subject": {"streetAddresses": ["Main St 1"]}}, "spec.subject.streetAddresses"),
        ({"subject": {"postalCodes": ["10115"]}}, "spec.subject.postalCodes"),
        ({"subject": {"serialNumber": "42"}}, "spec.subject.serialNumber"),
        ({"nameConstraints": {"permitted": {"dnsDomains": ["shop.svc"]}}}, "spec.nameConstraints"),
    ],
)
def test_fields_without_equivalent_are_refused(spec: dict[str, Any], field: str) -> None:
    assert refused(run(CA_ISSUER, cm_certificate(**spec))) == {(f"Certificate {NS}/web", field)}


@pytest.mark.parametrize("field", ["revisionHistoryLimit", "encodeUsagesInRequest"])
def test_fields_that_mean_nothing_without_cert_manager_are_noted(field: str) -> None:
    conversion = run(CA_ISSUER, cm_certificate(**{field: EVERY_FIELD[field]}))
    assert not conversion.refusals
    assert f"spec.{field}: not converted" in notes(conversion)


def test_cert_manager_annotations_option() -> None:
    on = run(CA_ISSUER, cm_certificate(), options=Options(cert_manager_annotations=True))
    assert spec_of(on)["certManagerAnnotations"] is True
    assert "certManagerAnnotations" not in spec_of(run(CA_ISSUER, cm_certificate()))


def test_a_value_of_the_wrong_type_is_refused_not_guessed() -> None:
    conversion = run(CA_ISSUER, cm_certificate(dnsNames="web.shop.svc", isCA="yes"))
    assert refused(conversion) == {
        (f"Certificate {NS}/web", "spec.dnsNames"),
        (f"Certificate {NS}/web", "spec.isCA"),
    }


def test_a_value_certmints_api_would_refuse_is_refused_before_it_is_written() -> None:
    conversion = run(CA_ISSUER, cm_certificate(commonName="x" * 65))
    assert refused(conversion) == {(f"Certificate {NS}/web", "spec.commonName")}
    assert "certmint would not accept it" in str(conversion.refusals[0])


def test_adoption_of_the_existing_secret_is_noted() -> None:
    assert "annotate it certmint.dev/allow-adoption-by=web" in notes(run(CA_ISSUER, cm_certificate()))


# Issuers


def test_a_ca_issuer_imports_its_ca_by_default() -> None:
    conversion = run(CA_ISSUER)
    assert spec_of(conversion, "Issuer", "ca") == {"selfSigned": {"importFrom": {"name": "root"}}}
    assert f"annotate it {ALLOW_IMPORT_BY}=Issuer/ca" in notes(conversion)


def test_a_ca_issuer_stays_a_ca_issuer_when_asked() -> None:
    conversion = run(CA_ISSUER, options=Options(ca_issuers=CAIssuers.CA))
    assert spec_of(conversion, "Issuer", "ca") == {"ca": {"secretName": "root"}}


def test_a_ca_cluster_issuer_kept_as_ca_needs_its_secret_in_certmints_namespace() -> None:
    cluster_issuer = {**CA_ISSUER, "kind": "ClusterIssuer", "metadata": {"name": "corp"}}
    conversion = run(
        cluster_issuer, options=Options(ca_issuers=CAIssuers.CA, cluster_resource_namespace="cm")
    )
    assert written(conversion, "ClusterIssuer", "corp")["spec"] == {"ca": {"secretName": "root"}}
    assert "copy Secret cm/root there" in notes(conversion)


def test_a_cluster_issuers_ca_secret_is_in_the_cluster_resource_namespace() -> None:
    cluster_issuer = {**CA_ISSUER, "kind": "ClusterIssuer", "metadata": {"name": "corp"}}
    conversion = run(cluster_issuer, options=Options(cluster_resource_namespace="cm"))
    assert written(conversion, "ClusterIssuer", "corp")["spec"] == {
        "selfSigned": {"importFrom": {"name": "root", "namespace": "cm"}}
    }
    assert "namespace" not in written(conversion, "ClusterIssuer", "corp")["metadata"]


def test_an_import_never_reads_the_secret_it_writes() -> None:
    issuer = {**CA_ISSUER, "spec": {"ca": {"secretName": "ca-ca"}}}
    self_signed = spec_of(run(issuer), "Issuer", "ca")["selfSigned"]
    assert self_signed["importFrom"] == {"name": "ca-ca"}
    assert self_signed["secretName"] != "ca-ca"


def bootstrap(**root_spec: Any) -> list[dict[str, Any]]:
    """cert-manager's CA bootstrap pattern: selfSigned issuer, isCA Certificate, ca issuer."""
    self_signed = {
        **CA_ISSUER,
        "metadata": {"name": "selfsigned", "namespace": NS},
        "spec": {"selfSigned": {}},
    }
    root = cm_certificate(
        "root-ca", isCA=True, secretName="root", issuerRef={"name": "selfsigned"}, commonName="Shop Root"
    )
    root["spec"].pop("dnsNames")
    root["spec"] |= root_spec
    return [self_signed, root, CA_ISSUER]


def test_the_ca_bootstrap_pattern_is_absorbed_into_the_ca_issuer() -> None:
    conversion = run(
        *bootstrap(
            subject={"organizations": ["Shop"]},
            duration="87600h",
            renewBefore="8760h",
            privateKey={"algorithm": "ECDSA", "size": 384},
            nameConstraints={
                "critical": True,
                "permitted": {"dnsDomains": ["shop.svc"], "ipRanges": ["10.0.0.0/8"]},
            },
        )
    )
    assert not conversion.refusals, conversion.refusals
    assert [(m["kind"], m["metadata"]["name"]) for m in conversion.manifests] == [("Issuer", "ca")]
    assert spec_of(conversion, "Issuer", "ca") == {
        "selfSigned": {
            "importFrom": {"name": "root"},
            "commonName": "Shop Root",
            "organization": "Shop",
            "caDuration": "87600h",
            "rotation": {"rotateBeforePercentage": 10},
            "privateKey": {"algorithm": "ECDSA", "size": 384},
            "nameConstraints": {"permitted": {"dnsDomains": ["shop.svc"], "ipRanges": ["10.0.0.0/8"]}},
        }
    }
    said = notes(conversion)
    assert f"Issuer {NS}/selfsigned: absorbed" in said
    assert f"Certificate {NS}/root-ca: absorbed into Issuer {NS}/ca" in said


@pytest.mark.parametrize(
    ("root_spec", "field"),
    [
        ({"dnsNames": ["root.shop.svc"]}, "spec.dnsNames"),
        ({"subject": {"organizations": ["A", "B"]}}, "spec.subject.organizations"),
        ({"subject": {"countries": ["DE"]}}, "spec.subject.countries"),
        ({"privateKey": {"algorithm": "Ed25519"}}, "spec.privateKey.algorithm"),
        ({"renewBeforePercentage": 95}, "spec.renewBeforePercentage"),
        ({"keystores": {"pkcs12": {"create": True}}}, "spec.keystores"),
    ],
)
def test_what_a_certmint_ca_cannot_carry_is_refused_on_the_absorbed_certificate(
    root_spec: dict[str, Any], field: str
) -> None:
    conversion = run(*bootstrap(**root_spec))
    assert refused(conversion) == {(f"Certificate {NS}/root-ca", field)}


def test_what_the_absorbed_self_signed_issuer_put_in_the_ca_is_refused() -> None:
    self_signed, root, ca_issuer = bootstrap()
    self_signed["spec"] = {"selfSigned": {"crlDistributionPoints": ["http://crl.shop.example/root.crl"]}}
    conversion = run(self_signed, root, ca_issuer)
    assert refused(conversion) == {(f"Issuer {NS}/selfsigned", "spec.selfSigned.crlDistributionPoints")}
    assert spec_of(conversion, "Issuer", "ca")["selfSigned"]["importFrom"] == {"name": "root"}


def test_with_ca_issuers_ca_the_bootstrap_is_absorbed_and_its_secret_used_as_it_is() -> None:
    conversion = run(*bootstrap(), options=Options(ca_issuers=CAIssuers.CA))
    assert spec_of(conversion, "Issuer", "ca") == {"ca": {"secretName": "root"}}
    assert "never renewed" in notes(conversion)


def test_a_self_signed_issuer_for_leaves_is_refused_with_its_leaves() -> None:
    *_, ca_issuer = bootstrap()
    self_signed = {
        **CA_ISSUER,
        "metadata": {"name": "selfsigned", "namespace": NS},
        "spec": {"selfSigned": {}},
    }
    leaf = cm_certificate(issuerRef={"name": "selfsigned"})
    conversion = run(self_signed, leaf, ca_issuer)
    assert refused(conversion) == {
        (f"Issuer {NS}/selfsigned", "spec.selfSigned"),
        (f"Certificate {NS}/web", "spec.issuerRef"),
    }


def test_a_ca_issuer_over_an_intermediate_a_certificate_keeps_is_refused_with_its_leaves() -> None:
    intermediate = cm_certificate("sub-ca", isCA=True, secretName="sub", issuerRef={"name": "ca"})
    sub_issuer = {
        **CA_ISSUER,
        "metadata": {"name": "sub", "namespace": NS},
        "spec": {"ca": {"secretName": "sub"}},
    }
    leaf = cm_certificate("leaf", issuerRef={"name": "sub"})
    conversion = run(CA_ISSUER, intermediate, sub_issuer, leaf)
    assert refused(conversion) == {
        (f"Issuer {NS}/sub", "spec.ca.secretName"),
        (f"Certificate {NS}/leaf", "spec.issuerRef"),
    }
    assert spec_of(conversion, "Certificate", "sub-ca")["isCA"] is True
    assert spec_of(conversion, "Issuer", "ca")["allowCA"] is True


@pytest.mark.parametrize("kind", ["acme", "vault", "venafi"])
def test_issuer_types_without_equivalent_are_refused(kind: str) -> None:
    issuer = {**CA_ISSUER, "spec": {kind: {"server": "https://example"}}}
    conversion = run(issuer, cm_certificate())
    assert refused(conversion) == {
        (f"Issuer {NS}/ca", f"spec.{kind}"),
        (f"Certificate {NS}/web", "spec.issuerRef"),
    }
    assert not conversion.manifests


@pytest.mark.parametrize("field", ["crlDistributionPoints", "ocspServers", "issuingCertificateURLs"])
def test_ca_urls_are_refused(field: str) -> None:
    issuer = {**CA_ISSUER, "spec": {"ca": {"secretName": "root", field: ["http://example/x"]}}}
    assert refused(run(issuer)) == {(f"Issuer {NS}/ca", f"spec.ca.{field}")}


# trust-manager Bundles


def cm_bundle(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "trust.cert-manager.io/v1alpha1",
        "kind": "Bundle",
        "metadata": {"name": "corp"},
        "spec": spec,
    }


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_bundle_sources_and_targets() -> None:
    bundle = cm_bundle(
        sources=[
            {"configMap": {"name": "roots", "key": "a.pem"}},
            {"secret": {"name": "other", "key": "ca.crt"}},
            {"inLine": PEM},
        ],
        target={
            "configMap": {"key": "trust.pem"},
            "secret": {"key": "ca.crt"},
            "additionalFormats": {"pkcs12": {"key": "t.p12", "password": "pw"}},
            "namespaceSelector": {"matchLabels": {"trust": "yes"}},
        },
    )
    spec = spec_of(run(bundle, options=Options(trust_namespace="tm")), "TrustBundle", "corp")
    assert spec == {
        "sources": [
            {"configMap": {"namespace": "tm", "name": "roots", "key": "a.pem"}},
            {"secret": {"namespace": "tm", "name": "other", "key": "ca.crt"}},
            {"inlinePEM": PEM},
        ],
        "target": {
            "configMapKey": "trust.pem",
            "secret": {"key": "ca.crt"},
            "pkcs12": {"key": "t.p12", "password": "pw"},
            "namespaceSelector": {"matchLabels": {"trust": "yes"}},
        },
    }


def test_a_bundle_source_that_is_a_ca_issuers_secret_follows_the_issuer() -> None:
    cluster_issuer = {**CA_ISSUER, "kind": "ClusterIssuer", "metadata": {"name": "corp-ca"}}
    bundle = cm_bundle(
        sources=[{"secret": {"name": "root", "key": "ca.crt"}}], target={"configMap": {"key": "ca.crt"}}
    )
    conversion = run(cluster_issuer, bundle)
    assert spec_of(conversion, "TrustBundle", "corp")["sources"] == [
        {"issuer": {"name": "corp-ca", "kind": "ClusterIssuer"}}
    ]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"sources": [{"useDefaultCAs": True}], "target": {}}, "spec.sources[0].useDefaultCAs"),
        (
            {"sources": [{"inLine": PEM}], "target": {"additionalFormats": {"jks": {"key": "x"}}}},
            "spec.target.additionalFormats.jks",
        ),
        (
            {"sources": [{"configMap": {"selector": {"matchLabels": {"a": "b"}}, "key": "k"}}], "target": {}},
            "spec.sources[0].configMap.selector",
        ),
        (
            {"sources": [{"inLine": PEM}], "target": {"configMap": {"key": "k", "metadata": {"labels": {}}}}},
            "spec.target.configMap.metadata",
        ),
    ],
)
def test_bundle_fields_without_equivalent_are_refused(spec: dict[str, Any], field: str) -> None:
    assert (("Bundle corp", field)) in refused(run(cm_bundle(**spec)))


# The input


def test_lists_and_several_documents_are_read() -> None:
    text = yaml.safe_dump_all([{"kind": "List", "apiVersion": "v1", "items": [CA_ISSUER]}, cm_certificate()])
    assert [o["kind"] for o in parse_documents(text, "x.yaml")] == ["Issuer", "Certificate"]
    with pytest.raises(NotManifests, match=r"x.yaml: not YAML"):
        parse_documents("a: [", "x.yaml")
    with pytest.raises(NotManifests, match=r"a document is not an object"):
        parse_documents("- 1\n- 2\n", "x.yaml")


def test_other_kinds_are_ignored_with_a_note_and_other_versions_refused() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS}}
    old = {**cm_certificate(), "apiVersion": "cert-manager.io/v1alpha2"}
    conversion = run(deployment, old)
    assert f"Deployment {NS}/web: ignored" in notes(conversion)
    assert refused(conversion) == {(f"Certificate {NS}/web", "apiVersion")}


def test_what_the_api_server_and_tools_wrote_stays_behind() -> None:
    certificate = cm_certificate()
    certificate["metadata"] |= {
        "uid": "u",
        "resourceVersion": "7",
        "managedFields": [{}],
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "owner": "team-a"},
        "ownerReferences": [{"kind": "Ingress", "name": "web"}],
    }
    certificate["status"] = {"conditions": []}
    conversion = run(CA_ISSUER, certificate)
    assert written(conversion, "Certificate", "web")["metadata"] == {
        "name": "web",
        "namespace": NS,
        "labels": {"app": "web"},
        "annotations": {"owner": "team-a"},
    }
    assert "status" not in written(conversion, "Certificate", "web")
    assert "made by another object (Ingress web)" in notes(conversion)


def test_certmints_own_requests_are_not_carried_over() -> None:
    certificate = cm_certificate()
    certificate["metadata"]["annotations"] = {"certmint.dev/revoke": "now", "certmint.dev/renew": "x"}
    conversion = run(CA_ISSUER, certificate)
    assert "annotations" not in written(conversion, "Certificate", "web")["metadata"]
    assert "not converted: certmint.dev/renew, certmint.dev/revoke" in notes(conversion)


def test_a_name_cannot_forge_a_line_of_the_report() -> None:
    certificate = cm_certificate(usages=["server auth\nrefused Certificate other/x: spec.y: forged"])
    certificate["metadata"]["name"] = "web\nnote Issuer a/b: all fine"
    conversion = run(CA_ISSUER, certificate)
    report = [str(finding) for finding in (*conversion.refusals, *conversion.notes)]
    assert all("\n" not in line for line in report)
    assert any("\\u000a" in line for line in report)


def test_objects_without_a_namespace_take_the_one_given() -> None:
    certificate = cm_certificate()
    del certificate["metadata"]["namespace"]
    assert (
        written(convert([certificate], Options(), "team"), "Certificate", "web")["metadata"]["namespace"]
        == "team"
    )
    assert "namespace" not in written(convert([certificate], Options()), "Certificate", "web")["metadata"]


def test_the_output_order_is_issuers_then_certificates_then_bundles() -> None:
    conversion = run(
        cm_bundle(sources=[{"inLine": PEM}], target={}), cm_certificate("b"), cm_certificate("a"), CA_ISSUER
    )
    assert [(m["kind"], m["metadata"]["name"]) for m in conversion.manifests] == [
        ("Issuer", "ca"),
        ("Certificate", "a"),
        ("Certificate", "b"),
        ("TrustBundle", "corp"),
    ]


# The corpus and the command


def test_the_corpus_converts_and_refuses_as_expected() -> None:
    objects = [
        obj for path in sorted(CORPUS.glob("*.yaml")) for obj in parse_documents(path.read_text(), str(path))
    ]
    conversion = convert(objects, Options(trust_namespace=NS, cluster_resource_namespace=NS), NS)
    assert {(m["kind"], m["metadata"]["name"]) for m in conversion.manifests} == WRITTEN
    assert refused(conversion) == expected_refusals(NS)
    said = notes(conversion)
    for kind, name in ABSORBED:
        assert f"{kind} {NS}/{name}: absorbed" in said or f"{kind} {name}: absorbed" in said


def test_the_command_writes_manifests_and_refuses_on_stderr() -> None:
    result = CliRunner().invoke(
        cli,
        ["convert", "-f", str(CORPUS), "-n", NS, "--trust-namespace", NS, "--cluster-resource-namespace", NS],
    )
    assert result.exit_code == EXIT_FAILED_CHECK, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert {(d["kind"], d["metadata"]["name"]) for d in documents} == WRITTEN
    lines = [line for line in result.stderr.splitlines() if line.startswith("refused ")]
    assert {refusal_line_parts(line) for line in lines} == expected_refusals(NS)


def test_the_command_exits_zero_without_refusals_and_prints_json(tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump_all([CA_ISSUER, cm_certificate()]))
    result = CliRunner().invoke(cli, ["convert", "-f", str(manifest), "-o", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["kind"] == "List"
    assert [item["kind"] for item in listed["items"]] == ["Issuer", "Certificate"]


def test_the_command_reads_stdin() -> None:
    result = CliRunner().invoke(cli, ["convert", "-f", "-"], input=yaml.safe_dump(CA_ISSUER))
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["kind"] == "Issuer"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["convert"], "give -f FILE|DIR|- or --from-cluster"),
        (["convert", "-f", "-", "--from-cluster"], "give -f FILE|DIR|- or --from-cluster"),
        (["convert", "-f", "-", "-A"], "-A reads every namespace of the cluster: it needs --from-cluster"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args, input="")
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_file_that_is_not_yaml_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [")
    result = CliRunner().invoke(cli, ["convert", "-f", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}: not YAML" in result.stderr


def from_cluster(
    monkeypatch: pytest.MonkeyPatch, served: dict[str, list[dict[str, Any]]], *args: str
) -> Result:
    """`convert --from-cluster` against an API server serving the `served` plurals only (the real
    API server's answers are tried in tests/e2e/test_convert.py)."""

    def listed(
        api: object, group: str, version: str, plural: str, namespace: str | None
    ) -> list[dict[str, Any]]:
        if plural not in served:
            raise cluster.NotFound(f"{plural}.{group}/{version} not found")
        return [item for item in served[plural] if namespace in (None, item["metadata"].get("namespace"))]

    monkeypatch.setattr(cluster, "connect", lambda kubeconfig, context=None: object())
    monkeypatch.setattr(cluster, "list_objects", listed)
    return CliRunner().invoke(cli, ["convert", "--from-cluster", *args])


def test_without_trust_manager_there_are_no_bundles(monkeypatch: pytest.MonkeyPatch) -> None:
    served = {"certificates": [cm_certificate()], "issuers": [CA_ISSUER], "clusterissuers": []}
    result = from_cluster(monkeypatch, served, "-A")
    assert result.exit_code == 0, result.output
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)] == ["Issuer", "Certificate"]


def test_without_cert_manager_the_command_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    result = from_cluster(monkeypatch, {}, "-n", NS)
    assert result.exit_code == EXIT_NOT_FOUND
    assert result.stderr.strip() == (
        "error: the API server does not serve issuers.cert-manager.io/v1: is cert-manager installed?"
    )
    assert result.stdout == ""
