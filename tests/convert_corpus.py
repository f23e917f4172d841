"""What `certmint convert` must make of tests/corpus/cert-manager: the objects it writes and every
refusal (object and field). Shared by the unit and the end-to-end tests."""

from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus" / "cert-manager"

WRITTEN = {
    ("ClusterIssuer", "corp-ca"),
    ("Issuer", "root-ca-issuer"),
    ("Certificate", "web"),
    ("Certificate", "legacy-app"),
    ("Certificate", "java-app"),
    ("Certificate", "billing-client"),
    ("Certificate", "intermediate-ca"),
    ("Certificate", "api"),
    ("TrustBundle", "corp-trust"),
}
"""(kind, name) of every certmint object the corpus converts to."""

ABSORBED = {
    ("Issuer", "selfsigned"),
    ("Certificate", "root-ca"),
    ("ClusterIssuer", "corp-selfsigned"),
    ("Certificate", "corp-root"),
}
"""The CA bootstrap objects, converted into the `ca` issuers they made the CA of."""


def expected_refusals(namespace: str) -> set[tuple[str, str]]:
    """(object, field) of every refusal, with the namespaced objects in `namespace`."""
    return {
        ("ClusterIssuer letsencrypt-prod", "spec.acme"),
        (f"Certificate {namespace}/storefront", "spec.issuerRef"),
        (f"Issuer {namespace}/vault-issuer", "spec.vault"),
        (f"Certificate {namespace}/payments-gateway", "spec.issuerRef.group"),
        (f"Certificate {namespace}/kafka-broker", "spec.keystores.jks"),
        (f"Certificate {namespace}/ldap-client", "spec.literalSubject"),
        (f"Certificate {namespace}/smartcard-user", "spec.otherNames"),
        (f"Certificate {namespace}/billing-portal", "spec.subject.organizationalUnits"),
        (f"Certificate {namespace}/billing-portal", "spec.subject.countries"),
        (f"Certificate {namespace}/billing-portal", "spec.subject.localities"),
        (f"Certificate {namespace}/billing-portal", "spec.usages[1]"),
        (f"Issuer {namespace}/standalone-selfsigned", "spec.selfSigned"),
        (f"Certificate {namespace}/dev-webhook", "spec.issuerRef"),
        (f"Issuer {namespace}/intermediate-issuer", "spec.ca.secretName"),
        (f"Certificate {namespace}/orders", "spec.issuerRef"),
        ("Bundle public-and-corp", "spec.sources[0].useDefaultCAs"),
        ("Bundle public-and-corp", "spec.target.additionalFormats.jks"),
    }


def refusal_line_parts(line: str) -> tuple[str, str]:
    """(object, field) of a line `refused <Kind> <ns/name>: <field>: <reason>`."""
    assert line.startswith("refused "), line
    head, field, _ = line.removeprefix("refused ").split(": ", 2)
    return head, field
