"""Which CA certificates (and CRLs) a TrustBundle publishes when some of its sources fail.

A bundle publishes what it can: every healthy source as it is now, and for a source that cannot be
read (a deleted Issuer, a missing ConfigMap key, a leaf where a CA belongs) the CA certificates and
CRLs it published last, taken from the bundle's own status. Dropping a failing source's CAs would
break every peer that still relies on them; freezing the whole bundle would stop a healthy
issuer's next CA and CRLs from reaching anyone.

A namespaced Issuer's CA is published outside the Issuer's own namespace only when it is
name-constrained (RFC 5280 NameConstraints): otherwise the tenant owning that Issuer could mint
certificates for any name that peers in other namespaces would trust.
"""

import hashlib
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from certmint.api.certificate import IssuerKind
from certmint.api.trustbundle import BundleSource
from certmint.pki import PKIError, TrustBundleContent, assemble_bundle, certificates_to_pem
from certmint.planning import reasons
from certmint.planning.issuer_view import fingerprint

MAX_RECORDED_CRL_BYTES = 256 * 1024
"""CRLs a bundle's status records for its sources, in all: the status duplicates what the ConfigMap
publishes, and both must stay well under etcd's 1.5 MiB object limit. CA certificates are always
recorded (a few KB each); a source's CRLs past this budget are published but not recorded, so if
that source later fails, its CAs are kept and its CRLs are not."""


def recorded_crls(publications: Sequence["SourcePublication"]) -> tuple[bytes, ...]:
    """Per publication, the CRLs its status record keeps: in order, while they fit the budget."""
    recorded = []
    budget = MAX_RECORDED_CRL_BYTES
    for publication in publications:
        fits = len(publication.crls) <= budget
        recorded.append(publication.crls if fits else b"")
        budget -= len(publication.crls) if fits else 0
    return tuple(recorded)


def issuer_source_id(kind: str, namespace: str, name: str) -> str:
    return f"ClusterIssuer/{name}" if kind == IssuerKind.CLUSTER_ISSUER else f"Issuer/{namespace}/{name}"


def source_id(source: BundleSource) -> str:
    """A stable name for a source, the key of what the bundle's status records about it."""
    if source.issuer is not None:
        ref = source.issuer
        return issuer_source_id(ref.kind, ref.namespace or "", ref.name)
    if source.secret is not None:
        return f"Secret/{source.secret.namespace}/{source.secret.name}/{source.secret.key}"
    if source.config_map is not None:
        cm = source.config_map
        return f"ConfigMap/{cm.namespace}/{cm.name}/{cm.key}"
    digest = hashlib.sha256((source.inline_pem or "").encode()).hexdigest()[:16]
    return f"inlinePEM/{digest}"


@dataclass(frozen=True)
class SourceRead:
    """One source as read now. `pem` None: it could not be read, `problem` says why."""

    id: str
    pem: bytes | None
    crls: bytes = b""
    problem: str = ""
    issuer_namespace: str | None = None
    """Set for a namespaced Issuer source: its CA must be name-constrained to leave that namespace."""


@dataclass(frozen=True)
class LastPublished:
    """What the bundle published for a source last time (from its status)."""

    pem: str
    crls: str = ""


@dataclass(frozen=True)
class SourcePublication:
    id: str
    certificates: tuple[x509.Certificate, ...]
    crls: bytes
    reason: str
    """reasons.SYNCED when published as read now; else why not (what is published then is the last
    known content for SOURCE_UNAVAILABLE and INVALID_SOURCE, nothing for UNCONSTRAINED_ISSUER_CA)."""
    problem: str = ""

    @property
    def fresh(self) -> bool:
        return self.reason == reasons.SYNCED

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(sorted(fingerprint(certificate) for certificate in self.certificates))


@dataclass(frozen=True)
class BundleSources:
    sources: tuple[SourcePublication, ...]
    content: TrustBundleContent
    crls: bytes

    @property
    def problems(self) -> tuple[SourcePublication, ...]:
        return tuple(source for source in self.sources if not source.fresh)

    def condition(self) -> tuple[str, str] | None:
        """(reason, message) of the first kind of problem, naming every failing source; None when
        every source is published as read now."""
        problems = self.problems
        if not problems:
            return None
        order = (reasons.SOURCE_UNAVAILABLE, reasons.INVALID_SOURCE, reasons.UNCONSTRAINED_ISSUER_CA)
        reason = min((p.reason for p in problems), key=lambda r: order.index(r) if r in order else len(order))
        parts = []
        for problem in problems:
            kept = (
                "not published"
                if problem.reason == reasons.UNCONSTRAINED_ISSUER_CA
                else (
                    f"its last published {len(problem.certificates)} CA certificates kept"
                    if problem.certificates
                    else "nothing published for it yet"
                )
            )
            parts.append(f"{problem.id}: {problem.problem} ({kept})")
        return reason, "; ".join(parts)


def plan_sources(
    reads: Sequence[SourceRead],
    last: Mapping[str, LastPublished],
    target_namespaces: AbstractSet[str],
    now: datetime,
    unrecorded: Sequence[x509.Certificate] = (),
) -> BundleSources:
    """What the bundle publishes: every source read now, the last published content of those that
    fail, and no unconstrained namespaced Issuer CA when a target namespace is not its own.

    `last`: source id → what was published for it before; `target_namespaces`: the namespaces the
    bundle's selector picks now. Expired certificates are left out, as assemble_bundle does.
    `unrecorded`: what the published copies hold, for a bundle whose status records no source yet
    (written before per-source records): a failing source then keeps every published CA that no
    healthy source accounts for, rather than losing its trust on the first reconcile."""
    publications = []
    for read in reads:
        publications.append(_publication(read, last.get(read.id), target_namespaces))
    if not last and unrecorded:
        publications = _attribute_unrecorded(publications, unrecorded)
    content = assemble_bundle(
        (certificates_to_pem(p.certificates) for p in publications if p.certificates), now
    )
    crls = b"".join(p.crls for p in publications)
    return BundleSources(tuple(publications), content, crls)


def _publication(
    read: SourceRead, last: LastPublished | None, target_namespaces: AbstractSet[str]
) -> SourcePublication:
    if read.pem is not None:
        try:
            certificates = tuple(_ca_certificates(read.pem))
        except PKIError as error:
            return _last_known(read.id, last, reasons.INVALID_SOURCE, error.message)
        if read.issuer_namespace is not None and (target_namespaces - {read.issuer_namespace}):
            unconstrained = [c for c in certificates if not name_constrained(c)]
            if unconstrained:
                message = (
                    f"CA {unconstrained[0].subject.rfc4514_string()[:200]} has no NameConstraints, so it is "
                    f"published into no namespace but {read.issuer_namespace}, and this bundle targets others"
                )
                return SourcePublication(read.id, (), b"", reasons.UNCONSTRAINED_ISSUER_CA, message)
        return SourcePublication(read.id, certificates, read.crls, reasons.SYNCED)
    return _last_known(read.id, last, reasons.SOURCE_UNAVAILABLE, read.problem)


def _attribute_unrecorded(
    publications: list[SourcePublication], unrecorded: Sequence[x509.Certificate]
) -> list[SourcePublication]:
    failing = [p for p in publications if p.reason in (reasons.SOURCE_UNAVAILABLE, reasons.INVALID_SOURCE)]
    if not failing:
        return publications
    accounted = {fingerprint(c) for p in publications for c in p.certificates}
    kept = tuple({fingerprint(c): c for c in unrecorded if fingerprint(c) not in accounted}.values())
    first = failing[0]
    return [replace(p, certificates=kept) if p is first else p for p in publications]


def _last_known(source: str, last: LastPublished | None, reason: str, problem: str) -> SourcePublication:
    if last is None:
        return SourcePublication(source, (), b"", reason, problem)
    try:
        certificates = tuple(_ca_certificates(last.pem.encode())) if last.pem else ()
    except PKIError:
        certificates = ()  # a status edited by hand: nothing known to keep
    return SourcePublication(source, certificates, last.crls.encode(), reason, problem)


def _ca_certificates(pem: bytes) -> list[x509.Certificate]:
    """The source's certificates; PKIError when one is not a CA (assemble_bundle's rule)."""
    return list(assemble_bundle([pem]).certificates) if pem.strip() else []


def name_constrained(certificate: x509.Certificate) -> bool:
    """Whether the CA carries an RFC 5280 NameConstraints extension."""
    try:
        certificate.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return False
    return True
