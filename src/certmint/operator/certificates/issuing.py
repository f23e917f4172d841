"""Issuing: sign a certificate for the plan and write it into the Certificate's Secret."""

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certmint.api import Certificate
from certmint.kube.apply import Rejected
from certmint.kube.events import ObjectReference
from certmint.kube.secrets import OwnerReference, SecretObject
from certmint.operator import metrics
from certmint.operator.certificates.keymanager import keystore_password, reusable_key
from certmint.operator.context import Context
from certmint.operator.offload import off_loop
from certmint.operator.outcome import Outcome
from certmint.operator.state import SECRET, Key
from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    PKIError,
    PrivateKey,
    generate_private_key,
    key_spec_of,
    serial_hex,
    sign_leaf,
)
from certmint.planning import reasons
from certmint.planning.certificates.results import CurrentCertificate, Issue
from certmint.planning.certificates.secret import metadata_drift, secret_data, secret_metadata
from certmint.planning.certificates.secret_view import TLS_SECRET_TYPE, SecretContents, SecretView, Unusable
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView, with_issuer_pointers
from certmint.planning.ownership import may_reference_owner, ownership_annotations
from certmint.planning.request import IssuanceSpec

log = logging.getLogger("certmint.certificates")


@dataclass(frozen=True)
class Issued:
    current: CurrentCertificate
    outcome: Outcome


async def issue(
    ctx: Context,
    key: Key,
    certificate: Certificate,
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretView | None,
    plan: Issue,
    now: datetime,
    markings: dict[str, str],
) -> Issued | Fail | None:
    """None when someone else created the Secret between our read and our create: nothing written.
    `markings`: annotations the Secret gets besides certmint's usual ones."""
    if issuer.signing.ca is None:  # planning fails first when the issuer has no CA
        raise AssertionError("issuing without a CA")
    spec = replace(spec, leaf=with_issuer_pointers(spec.leaf, issuer))
    password = await keystore_password(ctx, key.namespace, spec)
    if isinstance(password, Fail):
        return password
    issuer_label = metrics.issuer_label(certificate.spec.issuer_ref.kind, certificate.spec.issuer_ref.name)
    reused = await reusable_key(ctx, key.namespace, spec, secret, plan)
    started = time.perf_counter()
    try:
        if _cheap(spec, issuer.signing.ca, reused):
            private_key, leaf, data = _sign(spec, issuer.signing.ca, reused, password, now)
        else:
            private_key, leaf, data = await off_loop(_sign, spec, issuer.signing.ca, reused, password, now)
    except (PKIError, ValueError) as error:
        # Passed the schema but not the PKI rules (a bad SAN, an empty keystore password), or not
        # cryptography's own: reported, and retried with backoff, which picks up a fixed password
        # Secret that no watch reports.
        if isinstance(error, PKIError):
            return Fail(error.reason, error.message, retryable=True)
        return Fail(reasons.INVALID_REQUEST, str(error), retryable=True)
    markings = {**ownership_annotations(secret, certificate.metadata.uid), **markings}
    metadata = secret_metadata(certificate, leaf, spec, markings)
    try:
        if secret is None:
            # A plain create: whoever creates the Secret first keeps it; nothing is taken over.
            created = await ctx.kube.create_secret(
                key.namespace,
                certificate.spec.secret_name,
                data=data,
                labels=metadata.labels,
                annotations=metadata.annotations,
                owner=owner(certificate),
            )
            if created is None:
                return None
            written = created
        else:
            written = await ctx.kube.apply_secret(
                key.namespace,
                certificate.spec.secret_name,
                secret_type=TLS_SECRET_TYPE,
                data=data,
                labels=metadata.labels,
                annotations=metadata.annotations,
                owner=owner(certificate) if may_reference_owner(secret, certificate.metadata.uid) else None,
            )
    except Rejected as error:
        # e.g. secretTemplate labels the API server refuses: only a change of the spec helps.
        message = f"the API server refused Secret {certificate.spec.secret_name}: {error}"
        return Fail(reasons.SECRET_REJECTED, message, retryable=False)
    metrics.issuance_seconds.labels(issuer_label).observe(time.perf_counter() - started)
    event = _event_reason(certificate, plan)
    metrics.issuances.labels(issuer_label, event.lower()).inc()
    serial = serial_hex(leaf.serial_number)
    await ctx.kube.post_event(
        reference(certificate),
        "Normal",
        event,
        f"{plan.reason}: {plan.message}; issued serial {serial}, valid until "
        f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
    )
    log.info("%s %s/%s serial %s (%s)", event.lower(), key.namespace, key.name, serial, plan.reason)
    current = CurrentCertificate(certificate=leaf, key_spec=key_spec_of(private_key), key_matches=True)
    contents = SecretContents(leaf.public_bytes(Encoding.DER), current.key_spec, key_matches=True)
    return Issued(current, written_secret(key.namespace, written, contents))


def written_secret(
    namespace: str, written: SecretObject, contents: SecretContents | Unusable | None
) -> Outcome:
    """Our write's own watch event needs no reconcile; until it arrives, plans use what we wrote."""
    echo = (Key(SECRET, namespace, written.name), written.resource_version)
    return Outcome(echoes=(echo,), secrets=((namespace, written.view(contents)),))


def _event_reason(certificate: Certificate, plan: Issue) -> str:
    if not certificate.status.serial_number:
        return reasons.ISSUED
    return reasons.RENEWED if plan.reason in reasons.RENEWAL_TRIGGERS else reasons.REISSUED


def _cheap(spec: IssuanceSpec, ca: CertificateAuthority, reused: PrivateKey | None) -> bool:
    """ECDSA and Ed25519 keys and signatures take a fraction of a millisecond: handing them to a
    thread costs more CPU than the work. RSA key generation and signing, and PKCS#12 sealing, take
    milliseconds to seconds and would stall every other reconcile on the event loop."""
    leaf_key = key_spec_of(reused) if reused is not None else spec.key
    return (
        leaf_key.algorithm != KeyAlgorithm.RSA
        and key_spec_of(ca.private_key).algorithm != KeyAlgorithm.RSA
        and spec.pkcs12 is None
    )


def _sign(
    spec: IssuanceSpec,
    ca: CertificateAuthority,
    reused: PrivateKey | None,
    password: bytes | None,
    now: datetime,
) -> tuple[PrivateKey, x509.Certificate, dict[str, bytes]]:
    """CPU-bound (RSA key generation takes tens of milliseconds), so it runs off the event loop."""
    private_key = reused or generate_private_key(spec.key)
    leaf = sign_leaf(spec.leaf, private_key.public_key(), ca, now)
    return private_key, leaf, secret_data(spec, private_key, leaf, ca, password)


async def heal_metadata(
    ctx: Context,
    key: Key,
    certificate: Certificate,
    spec: IssuanceSpec,
    secret: SecretView,
    leaf: x509.Certificate,
) -> Outcome:
    """Someone removed or changed our labels or annotations: put them back without re-issuing."""
    metadata = secret_metadata(
        certificate, leaf, spec, ownership_annotations(secret, certificate.metadata.uid)
    )
    drifted = metadata_drift(metadata, secret.labels, secret.annotations)
    if not drifted and secret.secret_type == TLS_SECRET_TYPE:
        return Outcome()
    # The write declares every field certmint owns, data included, which the view does not keep.
    current = await ctx.kube.read_secret(key.namespace, secret.name)
    if current is None:
        return Outcome(wake=(key,))  # deleted meanwhile: its watch event follows
    written = await ctx.kube.apply_secret(
        key.namespace,
        secret.name,
        secret_type=TLS_SECRET_TYPE,
        data=current.data,
        labels=metadata.labels,
        annotations=metadata.annotations,
        owner=owner(certificate) if may_reference_owner(secret, certificate.metadata.uid) else None,
    )
    return written_secret(key.namespace, written, None)  # rare: the data is parsed again


def owner(certificate: Certificate) -> OwnerReference | None:
    if not certificate.spec.cleanup_secret_on_delete:
        return None
    return OwnerReference(
        api_version=certificate.api_version,
        kind="Certificate",
        name=certificate.metadata.name,
        uid=certificate.metadata.uid,
    )


def reference(certificate: Certificate) -> ObjectReference:
    metadata = certificate.metadata
    return ObjectReference("Certificate", metadata.name, metadata.namespace, metadata.uid)
