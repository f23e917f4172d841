"""What the local cluster's profiles turn on: PodCertificateRequests and ClusterTrustBundles (gates and
beta API) unless a profile turns them off, and a node's identity only where there is a node."""

import dataclasses
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from devcluster.controlplane import API_ONLY, PCR_CLEANER, feature_gates_flag
from devcluster.credentials import write_credentials
from devcluster.node.configs import NODE_NAME
from devcluster.node.inside import NODE_PROFILE

GATES = {"PodCertificateRequest": True, "ClusterTrustBundle": True, "ClusterTrustBundleProjection": True}


def test_both_profiles_enable_pod_certificates_unless_told_not_to() -> None:
    for profile in (API_ONLY, NODE_PROFILE):
        assert profile.feature_gates == GATES
        assert feature_gates_flag(profile.feature_gates) == (
            "--feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,"
            "ClusterTrustBundleProjection=true",
        )
        off = dataclasses.replace(profile, pod_certificates=False)
        assert off.feature_gates == {}
        assert feature_gates_flag(off.feature_gates) == ()


def test_only_the_node_profile_cleans_pod_certificate_requests_and_has_a_node() -> None:
    assert PCR_CLEANER == "podcertificaterequest-cleaner-controller"
    assert PCR_CLEANER in NODE_PROFILE.controller_names
    assert PCR_CLEANER not in API_ONLY.controller_names
    assert PCR_CLEANER not in dataclasses.replace(NODE_PROFILE, pod_certificates=False).controller_names
    assert NODE_PROFILE.node_name == NODE_NAME
    assert API_ONLY.node_name is None


def test_the_node_credentials_name_the_node_as_the_node_authorizer_expects(tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path, node_name="certmint-node")
    assert credentials.node_cert is not None
    assert credentials.node_key is not None
    certificate = x509.load_pem_x509_certificate(credentials.node_cert.read_bytes())
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:certmint-node"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:nodes"]
    ca = x509.load_pem_x509_certificate(credentials.ca_cert.read_bytes())
    assert certificate.issuer == ca.subject
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    (tmp_path / "no-node").mkdir()
    assert write_credentials(tmp_path / "no-node").node_cert is None
