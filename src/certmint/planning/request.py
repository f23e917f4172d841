"""What a Certificate asks for, reduced to the inputs of issuance and a digest of them."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from certmint.api import Certificate, PKCS12Keystore, parse_duration
from certmint.api.certificate import OutputFormatType, RotationPolicy
from certmint.pki import KeyEncoding, KeySpec, LeafRequest, key_spec
from certmint.pki.crl import RevocationReason
from certmint.planning import labels
from certmint.planning.labels import RENEW_REQUEST


@dataclass(frozen=True)
class RevokeRequest:
    """A Certificate's revoke annotations: a token not yet served asks to revoke the current certificate."""

    token: str
    reason: RevocationReason
    reissue: bool


def revoke_request(annotations: Mapping[str, str]) -> RevokeRequest | None:
    """Raises ValueError for a reason RFC 5280 does not know."""
    token = annotations.get(labels.REVOKE_REQUEST, "")
    if not token:
        return None
    reason_text = annotations.get(labels.REVOKE_REASON, RevocationReason.UNSPECIFIED.value)
    try:
        reason = RevocationReason(reason_text)
    except ValueError:
        known = ", ".join(reason.value for reason in RevocationReason)
        raise ValueError(f"{labels.REVOKE_REASON} {reason_text!r} is not one of: {known}") from None
    reissue = annotations.get(labels.REVOKE_REISSUE, "true").lower() != "false"
    return RevokeRequest(token=token, reason=reason, reissue=reissue)


@dataclass(frozen=True)
class IssuanceSpec:
    leaf: LeafRequest
    key: KeySpec
    key_encoding: KeyEncoding
    rotation_policy: RotationPolicy
    pkcs12: PKCS12Keystore | None
    output_formats: frozenset[OutputFormatType]
    renew_before: timedelta | None
    renew_before_percentage: int | None
    digest: str
    """Changes exactly when something that shapes the issued certificate or key changes."""
    renew_request: str
    """The Certificate's renew annotation: a value not yet served asks for an issuance now."""
    namespace: str = ""
    service_account: str | None = None
    duration_text: str = ""
    """The duration as the user wrote it, for messages."""
    revoke: RevokeRequest | None = None
    trust_domain: str = ""
    """The operator's SPIFFE trust domain: the only one it issues SPIFFE IDs in."""


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def issuance_spec(certificate: Certificate, trust_domain: str) -> IssuanceSpec:
    """Raises ValueError (e.g. a bad duration that bypassed the schema) for the caller to report."""
    spec = certificate.spec
    namespace = certificate.metadata.namespace or ""
    uris = tuple(spec.uris)
    if spec.identity is not None:
        uris = (*uris, spiffe_id(trust_domain, namespace, spec.identity.service_account))
    leaf = LeafRequest(
        common_name=spec.common_name,
        organization=tuple(spec.organizations),
        dns_names=tuple(spec.dns_names),
        ip_addresses=tuple(spec.ip_addresses),
        uris=uris,
        email_addresses=tuple(spec.email_addresses),
        duration=parse_duration(spec.duration),
        usages=tuple(spec.usages),
        is_ca=spec.is_ca,
    )
    key = key_spec(spec.private_key.algorithm, spec.private_key.size)
    pkcs12 = spec.keystores.pkcs12 if spec.keystores and spec.keystores.pkcs12 else None
    pkcs12 = pkcs12 if pkcs12 is not None and pkcs12.create else None
    output_formats = frozenset(output.type for output in spec.additional_output_formats)
    shaping = {
        # As written, never as resolved: absent (None) follows the default, and a new default must
        # not re-issue every follower at once (planning.certificates.triggers spreads them).
        "issuer": spec.issuer_ref.to_api() if spec.issuer_ref is not None else None,
        "leaf": [
            leaf.common_name,
            leaf.organization,
            leaf.dns_names,
            leaf.ip_addresses,
            leaf.uris,
            leaf.email_addresses,
            leaf.duration.total_seconds(),
            sorted(leaf.usages),
            leaf.is_ca,
        ],
        "key": [key.algorithm, key.size, spec.private_key.encoding],
        "pkcs12": pkcs12.to_api() if pkcs12 else None,
        "outputs": sorted(output_formats),
    }
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:32]
    return IssuanceSpec(
        leaf=leaf,
        key=key,
        key_encoding=spec.private_key.encoding,
        rotation_policy=spec.private_key.rotation_policy,
        pkcs12=pkcs12,
        output_formats=output_formats,
        renew_before=parse_duration(spec.renew_before) if spec.renew_before else None,
        renew_before_percentage=spec.renew_before_percentage,
        digest=digest,
        renew_request=certificate.metadata.annotations.get(RENEW_REQUEST, ""),
        namespace=namespace,
        service_account=spec.identity.service_account if spec.identity else None,
        duration_text=spec.duration,
        revoke=revoke_request(certificate.metadata.annotations),
        trust_domain=trust_domain,
    )
