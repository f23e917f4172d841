"""Issuing: sign a certificate for the plan and write it into the Certificate's Secret."""

import logging
import time
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
from certmint.operator.longest_signed import record_longest_signed
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
from certmint.planning.certificates.actions import SecretWrite, SignAndWrite
from certmint.planning.certificates.secret import secret_data
from certmint.planning.certificates.secret_view import TLS_SECRET_TYPE, SecretContents, Unusable
from certmint.planning.gates import Fail
from certmint.planning.request import IssuanceSpec

log = logging.getLogger("certmint.certificates")


async def issue(
    ctx: Context,
    key: Key,
    certificate: Certificate,
    signer: Key,
    plan: SignAndWrite,
    now: datetime,
) -> Outcome | Fail | None:
    """Sign and write what the plan says, as issuer `signer`. None when someone else created the
    Secret between our read and our create: nothing written."""
    password = await keystore_password(ctx, key.namespace, plan.spec)
    if isinstance(password, Fail):
        return password
    issuer_label = metrics.issuer_label(signer.kind, signer.name)
    reused = await reusable_key(ctx, key.namespace, plan.secret.name, plan.spec) if plan.reuse_key else None
    await record_longest_signed(ctx, signer, plan.ca, plan.spec.leaf.duration)
    started = time.perf_counter()
    try:
        if _cheap(plan.spec, plan.ca, reused):
            private_key, leaf, data = _sign(plan, reused, password, now)
        else:
            private_key, leaf, data = await off_loop(_sign, plan, reused, password, now)
    except (PKIError, ValueError) as error:
        # Passed the schema but not the PKI rules (a bad SAN, an empty keystore password), or not
        # cryptography's own: reported, and retried with backoff, which picks up a fixed password
        # Secret that no watch reports.
        if isinstance(error, PKIError):
            return Fail(error.reason, error.message, retryable=True)
        return Fail(reasons.INVALID_REQUEST, str(error), retryable=True)
    try:
        written = await _write(ctx, key.namespace, certificate, plan.secret, data)
    except Rejected as error:
        # e.g. secretTemplate labels the API server refuses: only a change of the spec helps.
        message = f"the API server refused Secret {plan.secret.name}: {error}"
        return Fail(reasons.SECRET_REJECTED, message, retryable=False)
    if written is None:
        return None
    metrics.issuance_seconds.labels(issuer_label).observe(time.perf_counter() - started)
    event = plan.event
    metrics.issuances.labels(issuer_label, event.reason.lower()).inc()
    await ctx.kube.post_event(reference(certificate), event.type, event.reason, event.message)
    serial = serial_hex(leaf.serial_number)
    log.info(
        "%s %s/%s serial %s (%s)", event.reason.lower(), key.namespace, key.name, serial, plan.why.reason
    )
    contents = SecretContents(leaf.public_bytes(Encoding.DER), key_spec_of(private_key), key_matches=True)
    return written_secret(key.namespace, written, contents)


async def _write(
    ctx: Context, namespace: str, certificate: Certificate, write: SecretWrite, data: dict[str, bytes]
) -> SecretObject | None:
    """None when the plain create found the Secret in the way."""
    if write.create:
        return await ctx.kube.create_secret(
            namespace,
            write.name,
            data=data,
            labels=write.labels,
            annotations=write.annotations,
            owner=owner(certificate) if write.owner_reference else None,
        )
    return await ctx.kube.apply_secret(
        namespace,
        write.name,
        secret_type=TLS_SECRET_TYPE,
        data=data,
        labels=write.labels,
        annotations=write.annotations,
        owner=owner(certificate) if write.owner_reference else None,
    )


def written_secret(
    namespace: str, written: SecretObject, contents: SecretContents | Unusable | None
) -> Outcome:
    """Our write's own watch event needs no reconcile; until it arrives, plans use what we wrote."""
    echo = (Key(SECRET, namespace, written.name), written.resource_version)
    return Outcome(echoes=(echo,), secrets=((namespace, written.view(contents)),))


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
    plan: SignAndWrite, reused: PrivateKey | None, password: bytes | None, now: datetime
) -> tuple[PrivateKey, x509.Certificate, dict[str, bytes]]:
    """CPU-bound (RSA key generation takes tens of milliseconds), so it runs off the event loop."""
    private_key = reused or generate_private_key(plan.spec.key)
    leaf = sign_leaf(plan.spec.leaf, private_key.public_key(), plan.ca, now, plan.serial_number)
    return private_key, leaf, secret_data(plan.spec, private_key, leaf, plan.ca, password)


async def heal_metadata(ctx: Context, key: Key, certificate: Certificate, heal: SecretWrite) -> Outcome:
    """Put back the labels and annotations someone removed or changed, without re-issuing."""
    # The write declares every field certmint owns, data included, which the view does not keep.
    current = await ctx.kube.read_secret(key.namespace, heal.name)
    if current is None:
        return Outcome(wake=(key,))  # deleted meanwhile: its watch event follows
    written = await _write(ctx, key.namespace, certificate, heal, current.data)
    if written is None:  # an apply always writes
        raise AssertionError("a heal is never a create")
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
