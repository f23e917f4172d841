"""cert-manager's and trust-manager's kinds, served by the test API server so that migration is
tried against the real thing: CRDs of our own making (cert-manager itself is not installed), as
permissive as the tests need: every field is kept as written, nothing is validated."""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmint.pki.ca import key_usage
from tests.e2e.support import Cluster, wait_for

CERT_MANAGER_GROUP = "cert-manager.io"
TRUST_MANAGER_GROUP = "trust.cert-manager.io"

KINDS = (
    # (group, version, kind, plural, namespaced)
    (CERT_MANAGER_GROUP, "v1", "Certificate", "certificates", True),
    (CERT_MANAGER_GROUP, "v1", "Issuer", "issuers", True),
    (CERT_MANAGER_GROUP, "v1", "ClusterIssuer", "clusterissuers", False),
    (TRUST_MANAGER_GROUP, "v1alpha1", "Bundle", "bundles", False),
)


def crd(group: str, version: str, kind: str, plural: str, namespaced: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def install_cert_manager_kinds(cluster: Cluster) -> None:
    """Serves cert-manager.io/v1 Certificate, Issuer, ClusterIssuer and trust.cert-manager.io/v1alpha1
    Bundle; returns once every one of them can be listed."""
    for kind in KINDS:
        cluster.apply(crd(*kind))
    for group, version, _, plural, _ in KINDS:
        resource = f"{plural}.{group}"

        def served(resource: str = resource) -> bool:
            return "error" not in cluster.plane.kubectl("get", resource, "-A", check=False).lower()

        wait_for(served, 60, what=f"{resource}/{version} served")


# A CA, leaves and Secrets made the way cert-manager makes them (cryptography only: nothing of
# certmint's): a `selfSigned`-issued isCA Certificate, then a `ca` Issuer signing leaves.

CERT_MANAGER_LABEL = "controller.cert-manager.io/fao"
"""The label cert-manager puts on every Secret it writes."""
CERT_MANAGER_FIELD_MANAGER = "cert-manager-certificates-issuing"
"""The field manager cert-manager writes a Certificate's Secret with."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(algorithm: str = "RSA", size: int = 2048) -> PrivateKey:
    """cert-manager's privateKey.algorithm RSA (default, 2048) or ECDSA (256 or 384)."""
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    return ec.generate_private_key(ec.SECP384R1() if size == 384 else ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#1 for RSA, SEC1 for EC: cert-manager's default encoding."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Issued:
    """A certificate and its key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(
    builder: x509.CertificateBuilder, key: PrivateKey, signer: PrivateKey, ca: bool
) -> x509.Certificate:
    usage = key_usage(digital_signature=True, key_encipherment=not ca, key_cert_sign=ca, crl_sign=ca)
    return (
        builder.public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )


def root_ca(
    common_name: str = "corp root",
    *,
    algorithm: str = "RSA",
    size: int = 2048,
    lifetime: timedelta = timedelta(days=90),
    age: timedelta = timedelta(minutes=5),
    ca: bool = True,
    now: datetime | None = None,
) -> Issued:
    """The CA of cert-manager's bootstrap pattern (a selfSigned Issuer signs an isCA Certificate),
    made `age` ago, living `lifetime`; `ca=False`: the same without CA:TRUE and keyCertSign."""
    now = now or datetime.now(UTC)
    key = new_key(algorithm, size)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .not_valid_before(now - age)
        .not_valid_after(now - age + lifetime)
    )
    return Issued(_ca_certificate(builder, key, key, ca), key)


def intermediate_ca(parent: Issued, common_name: str = "corp intermediate") -> Issued:
    """A CA certificate signed by `parent`: a CA, but not a root."""
    key = new_key("EC")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(parent.certificate.subject)
        .not_valid_before(parent.certificate.not_valid_before_utc)
        .not_valid_after(parent.certificate.not_valid_after_utc)
    )
    return Issued(_ca_certificate(builder, key, parent.key, True), key)


def leaf(
    ca: Issued,
    *,
    common_name: str = "",
    dns_names: tuple[str, ...] = (),
    server: bool = True,
    lifetime: timedelta = timedelta(days=90),
    now: datetime | None = None,
) -> Issued:
    """A leaf of cert-manager's CA issuer: CN and SANs as requested, server and client auth (or client
    auth only), 90 days (cert-manager's default duration), an RSA 2048 key (its default)."""
    key = new_key()
    now = now or datetime.now(UTC)
    subject = _name(common_name) if common_name else x509.Name([])
    usages = (
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if server
        else [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if dns_names:
        names = x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names])
        builder = builder.add_extension(names, critical=not common_name)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def ca_secret_data(ca: Issued) -> dict[str, bytes]:
    """The data of cert-manager's CA Secret: the CA's own certificate in tls.crt and ca.crt."""
    return {"tls.crt": ca.certificate_pem, "tls.key": ca.key_pem, "ca.crt": ca.certificate_pem}


def ca_secret(
    namespace: str, name: str, data: dict[str, bytes], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """cert-manager's CA Secret of the isCA Certificate `name` (issued by the selfSigned Issuer
    "selfsigned") holding `data` as given (tests pass tampered data too), with `annotations` added."""
    common_name = "corp root"
    if "tls.crt" in data:
        try:
            names = x509.load_pem_x509_certificate(data["tls.crt"]).subject
            common_name = str(names.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        except (ValueError, IndexError):
            pass  # tampered data: the annotation is only cosmetic
    metadata = _metadata(namespace, name, name, "selfsigned", "Issuer", common_name, [], annotations)
    return _secret(metadata, data)


def tls_secret(
    namespace: str,
    name: str,
    issued: Issued,
    ca: Issued,
    *,
    certificate_name: str,
    issuer_name: str,
    issuer_kind: str = "Issuer",
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Secret cert-manager writes for its Certificate `certificate_name`: kubernetes.io/tls with
    tls.crt (the leaf, then the CA unless the leaf is the CA itself), tls.key and ca.crt, its
    annotations and label; `owner`: the ownerReference --enable-certificate-owner-ref adds."""
    chain = issued.certificate_pem + (b"" if issued.certificate == ca.certificate else ca.certificate_pem)
    try:
        san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    common_names = issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(common_names[0].value) if common_names else ""
    metadata = _metadata(namespace, name, certificate_name, issuer_name, issuer_kind, common_name, dns_names)
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return _secret(metadata, {"tls.crt": chain, "tls.key": issued.key_pem, "ca.crt": ca.certificate_pem})


def _metadata(
    namespace: str,
    name: str,
    certificate_name: str,
    issuer_name: str,
    issuer_kind: str,
    common_name: str,
    dns_names: list[str],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {CERT_MANAGER_LABEL: "true"},
        "annotations": {
            "cert-manager.io/certificate-name": certificate_name,
            "cert-manager.io/issuer-name": issuer_name,
            "cert-manager.io/issuer-kind": issuer_kind,
            "cert-manager.io/issuer-group": CERT_MANAGER_GROUP,
            "cert-manager.io/common-name": common_name,
            "cert-manager.io/alt-names": ",".join(dns_names),
            "cert-manager.io/ip-sans": "",
            "cert-manager.io/uri-sans": "",
            **(annotations or {}),
        },
    }


def _secret(metadata: dict[str, Any], data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "kubernetes.io/tls",
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


def certificate_owner(certificate: dict[str, Any]) -> dict[str, Any]:
    """The ownerReference cert-manager (--enable-certificate-owner-ref) puts on a Certificate's Secret."""
    metadata = certificate["metadata"]
    return {
        "apiVersion": f"{CERT_MANAGER_GROUP}/v1",
        "kind": "Certificate",
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
