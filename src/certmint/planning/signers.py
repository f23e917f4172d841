"""certmint's signer names, shared by every Kubernetes request that names a signer (CSRs and
PodCertificateRequests): `issuers.certmint.dev/<namespace>.<name>` and
`clusterissuers.certmint.dev/<name>`."""

import base64
import binascii
import re
from dataclasses import dataclass

from certmint.api.common import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN
from certmint.api.kinds import CLUSTER_ISSUERS, ISSUERS
from certmint.planning import reasons
from certmint.planning.gates import Fail

ISSUER_SIGNER_PREFIX = "issuers.certmint.dev/"
CLUSTER_ISSUER_SIGNER_PREFIX = "clusterissuers.certmint.dev/"
ISSUER = ISSUERS.kind
CLUSTER_ISSUER = CLUSTER_ISSUERS.kind

NAMESPACE = re.compile(DNS_LABEL_PATTERN)
_NAME = re.compile(DNS_SUBDOMAIN_PATTERN)


def is_certmint_signer(signer_name: str) -> bool:
    return signer_name.startswith((ISSUER_SIGNER_PREFIX, CLUSTER_ISSUER_SIGNER_PREFIX))


def issuer_signer_name(namespace: str, name: str) -> str:
    return f"{ISSUER_SIGNER_PREFIX}{namespace}.{name}"


def cluster_issuer_signer_name(name: str) -> str:
    return f"{CLUSTER_ISSUER_SIGNER_PREFIX}{name}"


@dataclass(frozen=True)
class SignerRef:
    kind: str
    namespace: str
    """Empty for a ClusterIssuer."""
    name: str


def parse_signer_name(signer_name: str) -> SignerRef | Fail:
    """A namespace is a DNS label (no dots), so the first dot ends it; the issuer name is the rest."""
    if signer_name.startswith(CLUSTER_ISSUER_SIGNER_PREFIX):
        name = signer_name.removeprefix(CLUSTER_ISSUER_SIGNER_PREFIX)
        if _NAME.fullmatch(name) and len(name) <= 253:
            return SignerRef(CLUSTER_ISSUER, "", name)
    elif signer_name.startswith(ISSUER_SIGNER_PREFIX):
        namespace, _, name = signer_name.removeprefix(ISSUER_SIGNER_PREFIX).partition(".")
        if NAMESPACE.fullmatch(namespace) and len(namespace) <= 63 and _NAME.fullmatch(name):
            return SignerRef(ISSUER, namespace, name)
    return Fail(
        reasons.UNKNOWN_SIGNER,
        f"signerName {signer_name!r} is not {ISSUER_SIGNER_PREFIX}<namespace>.<issuer> nor "
        f"{CLUSTER_ISSUER_SIGNER_PREFIX}<clusterissuer>",
        retryable=False,
    )


def base64_field(value: object) -> bytes:
    """A request's base64 field (a CSR's request and certificate, a PCR's stub request) decoded; empty
    when it is missing or not base64."""
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""
