"""Which Secret a Certificate may write: the rules that keep certmint from being a confused deputy.

certmint can write every Secret of the cluster; a tenant who can only create Certificates must not
be able to point it at a Secret that is not theirs. A Certificate's Secret is written only when it
does not exist yet (certmint creates it, and a concurrent creator wins), when certmint's own
markings say it belongs to this Certificate (by UID), or when the Secret itself invites this
Certificate (an annotation only someone allowed to write the Secret can set).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from certmint.planning import labels, reasons


class SecretMarkings(Protocol):
    """What an existing Secret says about who it belongs to (a certificates.secret_view.SecretView)."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def owner_uids(self) -> frozenset[str]:
        """UIDs of its ownerReferences."""


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


def issuer_ca_secret_names(
    issuers: Iterable[tuple[str, str, Mapping[str, Any]]], namespace: str, operator_namespace: str
) -> frozenset[str]:
    """Names of the CA Secrets in `namespace`, from (kind, namespace, body) of every known issuer.

    Read from the raw bodies, so an Issuer whose spec does not validate still protects its Secret;
    a selfSigned issuer's default name counts even before its CA exists, so no Certificate can
    claim it first. ClusterIssuers keep theirs in the operator's namespace.
    """
    names: set[str] = set()
    for kind, issuer_namespace, body in issuers:
        home = issuer_namespace if kind == "Issuer" else operator_namespace
        if home != namespace:
            continue
        spec = body.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        metadata = body.get("metadata")
        name = metadata.get("name", "") if isinstance(metadata, dict) else ""
        self_signed = spec.get("selfSigned")
        names.add(f"{name}-ca")
        if isinstance(self_signed, dict) and self_signed.get("secretName"):
            names.add(str(self_signed["secretName"]))
        ca = spec.get("ca")
        if isinstance(ca, dict) and ca.get("secretName"):
            names.add(str(ca["secretName"]))
    return frozenset(names)


def belongs_to(secret: SecretMarkings, certificate_name: str, certificate_uid: str) -> bool:
    annotations = secret.annotations
    recorded_uid = annotations.get(labels.CERTIFICATE_UID)
    if recorded_uid is not None:
        return bool(certificate_uid) and recorded_uid == certificate_uid
    if certificate_uid and certificate_uid in secret.owner_uids:
        return True
    # Written by a certmint that did not record UIDs yet: its name marking and role label, which a
    # tenant who cannot write Secrets cannot forge. The UID is recorded on the next write.
    return (
        secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_LEAF
        and annotations.get(labels.CERTIFICATE_NAME) == certificate_name
    )


def adoption_invited(secret: SecretMarkings, certificate_name: str) -> bool:
    return secret.annotations.get(labels.ALLOW_ADOPTION_BY) == certificate_name


def secret_refusal(
    certificate_name: str,
    certificate_uid: str,
    secret_name: str,
    secret: SecretMarkings | None,
    issuer_ca_secrets: frozenset[str],
) -> Refusal | None:
    """None when the Certificate may write its Secret; else why not, for the Ready condition."""
    if secret_name in issuer_ca_secrets or (
        secret is not None and secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA
    ):
        return Refusal(
            reasons.SECRET_IS_ISSUER_CA,
            f"Secret {secret_name} is the CA Secret of an Issuer or ClusterIssuer and is never written "
            "as a certificate's Secret; choose another secretName",
        )
    if secret is None:
        return None
    if belongs_to(secret, certificate_name, certificate_uid) or adoption_invited(secret, certificate_name):
        return None
    return Refusal(
        reasons.SECRET_NOT_OWNED,
        f"Secret {secret_name} exists and does not belong to this Certificate, so certmint does not "
        f"write it. To let this Certificate take it over, someone allowed to edit the Secret runs: "
        f"kubectl annotate secret {secret_name} {labels.ALLOW_ADOPTION_BY}={certificate_name}",
    )


def may_reference_owner(secret: SecretMarkings | None, certificate_uid: str) -> bool:
    """An ownerReference (garbage collection with the Certificate) only on a Secret certmint created
    for this Certificate: never on one it adopted, which existed before and must outlive it."""
    if secret is None:
        return True
    return (
        secret.annotations.get(labels.CREATED_FOR) == certificate_uid or certificate_uid in secret.owner_uids
    )


def ownership_annotations(secret: SecretMarkings | None, certificate_uid: str) -> dict[str, str]:
    """certmint's markings on a Secret it writes: the Certificate's UID, and whether certmint created it."""
    created = secret is None or secret.annotations.get(labels.CREATED_FOR) == certificate_uid
    return {
        labels.CERTIFICATE_UID: certificate_uid,
        **({labels.CREATED_FOR: certificate_uid} if created else {}),
    }


def password_secret_refusal(secret_name: str, secret: SecretMarkings) -> str | None:
    """A PKCS#12 password is read only from a Secret that opted in; else certmint would read any
    Secret of the namespace for a tenant who may not."""
    opted_in = "true" in (
        secret.labels.get(labels.PKCS12_PASSWORD),
        secret.annotations.get(labels.PKCS12_PASSWORD),
    )
    if opted_in:
        return None
    return (
        f"Secret {secret_name} is not marked as a PKCS#12 password Secret; label or annotate it "
        f"{labels.PKCS12_PASSWORD}=true to let Certificates of this namespace use it"
    )
