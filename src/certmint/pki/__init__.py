"""Pure cryptography for certmint: keys, CAs, leaves, CRLs, keystores, bundles. No Kubernetes here."""

from certmint.pki.bundle import TrustBundleContent, assemble_bundle
from certmint.pki.ca import (
    CARequest,
    CertificateAuthority,
    create_intermediate_ca,
    create_root_ca,
    is_ca,
    load_ca,
    validate_ca_request,
)
from certmint.pki.crl import (
    RevocationReason,
    RevokedCertificate,
    build_crl,
    crl_to_der,
    crl_to_pem,
    load_crls_pem,
    parse_crl,
)
from certmint.pki.errors import PKIError
from certmint.pki.inspect import CertificateSummary, serial_hex, summarize_certificate
from certmint.pki.keys import (
    DEFAULT_KEY_SIZES,
    KeyAlgorithm,
    KeyEncoding,
    KeySpec,
    PrivateKey,
    PublicKey,
    encode_private_key_der,
    encode_private_key_pem,
    generate_private_key,
    key_matches_certificate,
    key_spec,
    key_spec_of,
    load_private_key_pem,
)
from certmint.pki.keystore import PKCS12Profile, combined_pem, pkcs12_keystore, pkcs12_truststore
from certmint.pki.leaf import (
    LeafRequest,
    Usage,
    effective_usages,
    issue_leaf,
    sign_leaf,
    validate_leaf_request,
)
from certmint.pki.names import validate_spiffe_id
from certmint.pki.pem import certificates_to_pem, load_certificates_pem
from certmint.pki.verify import Purpose, verify_certificate

__all__ = [
    "DEFAULT_KEY_SIZES",
    "CARequest",
    "CertificateAuthority",
    "CertificateSummary",
    "KeyAlgorithm",
    "KeyEncoding",
    "KeySpec",
    "LeafRequest",
    "PKCS12Profile",
    "PKIError",
    "PrivateKey",
    "PublicKey",
    "Purpose",
    "RevocationReason",
    "RevokedCertificate",
    "TrustBundleContent",
    "Usage",
    "assemble_bundle",
    "build_crl",
    "certificates_to_pem",
    "combined_pem",
    "create_intermediate_ca",
    "create_root_ca",
    "crl_to_der",
    "crl_to_pem",
    "effective_usages",
    "encode_private_key_der",
    "encode_private_key_pem",
    "generate_private_key",
    "is_ca",
    "issue_leaf",
    "key_matches_certificate",
    "key_spec",
    "key_spec_of",
    "load_ca",
    "load_certificates_pem",
    "load_crls_pem",
    "load_private_key_pem",
    "parse_crl",
    "pkcs12_keystore",
    "pkcs12_truststore",
    "serial_hex",
    "sign_leaf",
    "summarize_certificate",
    "validate_ca_request",
    "validate_leaf_request",
    "validate_spiffe_id",
    "verify_certificate",
]
