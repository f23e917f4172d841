"""The certificates and keys an envtest-style control plane needs, made with certmint's own PKI."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certmint.pki import (
    CARequest,
    KeyEncoding,
    KeySpec,
    LeafRequest,
    Usage,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    generate_private_key,
    issue_leaf,
)

_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class ClusterCredentials:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path
    node_cert: Path | None = None
    """The kubelet's client certificate (CN=system:node:<node>, O=system:nodes), when there is a node."""
    node_key: Path | None = None


def write_credentials(
    directory: Path, serving_ips: tuple[str, ...] = ("127.0.0.1",), node_name: str | None = None
) -> ClusterCredentials:
    now = datetime.now(UTC)
    ca = create_root_ca(CARequest(common_name="certmint devcluster CA", duration=_LIFETIME), now)
    serving_key, serving_cert = issue_leaf(
        LeafRequest(
            common_name="kube-apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ip_addresses=serving_ips,
            usages=(Usage.DIGITAL_SIGNATURE, Usage.SERVER_AUTH),
            duration=_LIFETIME,
        ),
        KeySpec(),
        ca,
        now,
    )
    # Group system:masters bypasses RBAC, which is what a cluster admin's kubeconfig has.
    admin_key, admin_cert = issue_leaf(
        LeafRequest(
            common_name="certmint-admin",
            organization=("system:masters",),
            usages=(Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH),
            duration=_LIFETIME,
        ),
        KeySpec(),
        ca,
        now,
    )
    node = (
        None
        if node_name is None
        else issue_leaf(
            # What the Node authorizer and NodeRestriction take as the identity of node `node_name`.
            LeafRequest(
                common_name=f"system:node:{node_name}",
                organization=("system:nodes",),
                usages=(Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH),
                duration=_LIFETIME,
            ),
            KeySpec(),
            ca,
            now,
        )
    )
    files = ClusterCredentials(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "service-account.key",
        service_account_public_key=directory / "service-account.pub",
        node_cert=None if node is None else directory / "node.crt",
        node_key=None if node is None else directory / "node.key",
    )
    files.ca_cert.write_bytes(certificates_to_pem([ca.certificate]))
    files.serving_cert.write_bytes(certificates_to_pem([serving_cert]))
    files.serving_key.write_bytes(encode_private_key_pem(serving_key))
    files.admin_cert.write_bytes(certificates_to_pem([admin_cert]))
    files.admin_key.write_bytes(encode_private_key_pem(admin_key))
    if node is not None and files.node_cert is not None and files.node_key is not None:
        files.node_key.write_bytes(encode_private_key_pem(node[0]))
        files.node_cert.write_bytes(certificates_to_pem([node[1]]))
    # Kubernetes reads SEC1 ("EC PRIVATE KEY") signing keys and wants the public half on its own.
    service_account_key = generate_private_key(KeySpec())
    files.service_account_key.write_bytes(encode_private_key_pem(service_account_key, KeyEncoding.PKCS1))
    files.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return files
