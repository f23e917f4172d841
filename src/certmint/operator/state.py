"""What the operator remembers between events: our own objects as last seen, and how they relate.

Certificates are cached as compact JSON, Issuers and TrustBundles as they are. Secrets certmint
manages are cached as views (planning.certificates.secret_view): what planning needs, without
their data or any private key, so a restart or a resync plans from the Secret watch alone instead
of reading every Secret again.
"""

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from certmint.api.kinds import (
    CERTIFICATES,
    CLUSTER_ISSUERS,
    DEFAULT,
    ISSUERS,
    NAMESPACED_TRUST_BUNDLES,
    TRUST_BUNDLES,
)
from certmint.operator.ocsp_responder import Responders
from certmint.planning import labels
from certmint.planning.bundles.sources import issuer_source_id
from certmint.planning.certificates.secret_view import SecretContents, SecretView
from certmint.planning.cluster_trust import ClusterTrustBundleObject
from certmint.planning.csrs.signing_request import SigningRequestObject
from certmint.planning.defaults import Defaults
from certmint.planning.issuer_view import IssuerView
from certmint.planning.issuers.rotation import StepTaken
from certmint.planning.podcerts.request import PodCertificateRequestObject

CERTIFICATE = CERTIFICATES.kind
ISSUER = ISSUERS.kind
CLUSTER_ISSUER = CLUSTER_ISSUERS.kind
TRUST_BUNDLE = TRUST_BUNDLES.kind
NAMESPACED_TRUST_BUNDLE = NAMESPACED_TRUST_BUNDLES.kind
SECRET = "Secret"
SIGNING_REQUEST = "CertificateSigningRequest"
POD_CERTIFICATE_REQUEST = "PodCertificateRequest"
CLUSTER_TRUST_BUNDLE = "ClusterTrustBundle"
SIGNER = "Signer"
CERTIFICATE_BUCKET = "CertificateBucket"
"""A Certificate whose bucket label is missing or wrong (planning.shards): its relabel, not its
reconcile."""
SECRET_BUCKET = "SecretBucket"
"""A managed Secret whose bucket label is missing or no bucket: its relabel."""
"""Not a Kubernetes kind: a signer name whose pending CSRs are to be listed (its issuer appeared)."""
OCSP_RESPONSE = "OCSPResponse"
"""Not a Kubernetes kind: the cached OCSP responses, counted in certmint_cached_objects."""


@dataclass(frozen=True, order=True)
class Key:
    kind: str
    namespace: str
    """Empty for cluster-scoped objects."""
    name: str


Body = dict[str, Any]
Bucket = TypeVar("Bucket")
Member = TypeVar("Member")


def key_of(kind: str, body: Body) -> Key:
    metadata = body.get("metadata", {})
    return Key(kind, metadata.get("namespace") or "", metadata.get("name", ""))


def bundle_label(key: Key) -> str:
    """How a bundle of either kind is named in metrics and rotation messages: a TrustBundle by its
    name, a NamespacedTrustBundle as namespace/name (no cluster-scoped name holds a slash)."""
    return f"{key.namespace}/{key.name}" if key.namespace else key.name


def issuer_key(kind: str, certificate_namespace: str, name: str) -> Key:
    """An issuerRef resolved: Issuers live in the Certificate's namespace, ClusterIssuers nowhere."""
    return Key(kind, certificate_namespace if kind == ISSUER else "", name)


class CompactBodies(MutableMapping[Key, Body]):
    """Bodies kept as compact JSON and decoded when read: a decoded Certificate takes about five
    times its JSON in memory (51 MB against 10 MB for 10,000 of them), and one is read only when
    it is reconciled or its issuer changes."""

    def __init__(self) -> None:
        self._encoded: dict[Key, bytes] = {}

    def __getitem__(self, key: Key) -> Body:
        decoded: Body = json.loads(self._encoded[key])
        return decoded

    def __setitem__(self, key: Key, body: Body) -> None:
        self._encoded[key] = json.dumps(body, separators=(",", ":")).encode()

    def __delitem__(self, key: Key) -> None:
        del self._encoded[key]

    def __contains__(self, key: object) -> bool:
        return key in self._encoded

    def __iter__(self) -> Iterator[Key]:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)


@dataclass(frozen=True)
class Relabel:
    path: str
    value: str
    resource_version: str
    """The version judged: the label is set only on it."""


@dataclass(frozen=True)
class Filing:
    """Where a cached Certificate is indexed, and what is read of every Certificate of an issuer at
    once, taken from the body when it is put: neither removing it nor an issuer's fan-out or
    rotation then decodes the cached JSON again."""

    secret: tuple[str, str]
    issuer: Key | None
    """None when the Certificate has no issuerRef: it follows its namespace's default issuer."""
    uid: str


@dataclass
class State:
    certificates: CompactBodies = field(default_factory=CompactBodies)
    issuers: dict[Key, Body] = field(default_factory=dict)
    issuer_views: dict[Key, IssuerView] = field(default_factory=dict)
    bundles: dict[Key, Body] = field(default_factory=dict)
    """TrustBundles and NamespacedTrustBundles (their keys' kinds tell them apart)."""
    signing_requests: dict[Key, SigningRequestObject] = field(default_factory=dict)
    """Only CSRs addressed to certmint's signers of issuers that exist, only until they are final,
    and only the fields certmint reads (no managedFields, no base64)."""
    pod_certificate_requests: dict[Key, PodCertificateRequestObject] = field(default_factory=dict)
    """Only PodCertificateRequests addressed to certmint's signers of issuers that exist, only until
    they are final (or while a revocation is asked for), and only the fields certmint reads."""
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    """Labels of every active namespace: what TrustBundle namespace selectors are matched against."""
    terminating: set[str] = field(default_factory=set)
    """Namespaces being deleted: their Certificates go with them, so none is reconciled."""
    secrets: dict[tuple[str, str], SecretView] = field(default_factory=dict)
    """(namespace, name): every Secret the label-selected Secret watch reports, as last seen."""
    unwatched_secrets: set[tuple[str, str]] = field(default_factory=set)
    """Secrets a create found in the way that the watch does not report (no certmint label):
    read directly until the watch reports them."""
    rotation_steps: dict[Key, StepTaken] = field(default_factory=dict)
    """The last CA rotation step of each issuer: the same step taken again waits for a backoff
    (planning.issuers.rotation.step_allowed_at). Kept in memory: a restart starts every backoff over."""
    cluster_trust_bundles: dict[str, ClusterTrustBundleObject] = field(default_factory=dict)
    """By name: every ClusterTrustBundle the label-selected watch reports (only with pod certificates
    on and the API served), as last seen or as certmint last wrote it."""
    pod_certificate_api: bool = False
    """Whether the API server serves certificates.k8s.io/v1beta1 PodCertificateRequests and
    ClusterTrustBundles, checked once at start (only with pod certificates on)."""
    ocsp_responders: Responders = field(default_factory=Responders)
    relabels: dict[Key, "Relabel"] = field(default_factory=dict)
    """CERTIFICATE_BUCKET and SECRET_BUCKET keys: the bucket label this replica is to set, until the
    watch reports the object labelled or gone."""
    """The OCSP responder of every issuer, with one budget of signed responses for the operator."""
    planned: set[Key] = field(default_factory=set)
    """Certificates planned at least once by this process: the others are at their first look since
    the start, where the restart fast path may apply (planning.certificates.restart)."""
    _by_secret: defaultdict[tuple[str, str], set[Key]] = field(default_factory=lambda: defaultdict(set))
    _by_issuer: defaultdict[Key, set[Key]] = field(default_factory=lambda: defaultdict(set))
    _followers: defaultdict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    """By namespace: the Certificates without issuerRef, which follow the default issuer."""
    _filed: dict[Key, Filing] = field(default_factory=dict)
    _defaults: dict[Key, datetime | None] = field(default_factory=dict)
    """Every cached issuer marked spec.default, and when its Default condition last became True
    (None while it is not): kept in step with `issuers` by refresh_default."""
    _defaults_by_scope: defaultdict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """(kind, namespace) → the names in `_defaults`: a tenant may mark any number of its Issuers,
    and no Certificate's resolution scans them all."""

    def put_certificate(self, key: Key, body: Body) -> None:
        self.remove_certificate(key)
        self.certificates[key] = body
        spec = body.get("spec", {})
        ref = spec.get("issuerRef")
        filing = Filing(
            secret=(key.namespace, spec.get("secretName", "")),
            issuer=(
                issuer_key(ref.get("kind", ISSUER), key.namespace, ref.get("name", ""))
                if isinstance(ref, dict)
                else None
            ),
            uid=str(body.get("metadata", {}).get("uid", "")),
        )
        self._filed[key] = filing
        self._by_secret[filing.secret].add(key)
        if filing.issuer is None:
            self._followers[key.namespace].add(key)
        else:
            self._by_issuer[filing.issuer].add(key)

    def remove_certificate(self, key: Key) -> None:
        filing = self._filed.pop(key, None)
        if filing is None:
            return
        del self.certificates[key]
        _discard(self._by_secret, filing.secret, key)
        if filing.issuer is None:
            _discard(self._followers, key.namespace, key)
        else:
            _discard(self._by_issuer, filing.issuer, key)

    def issuer_of(self, key: Key) -> Key | None:
        """The issuer a cached Certificate names, None when it is not cached or names none."""
        filing = self._filed.get(key)
        return filing.issuer if filing else None

    def refresh_default(self, key: Key) -> bool:
        """After `issuers[key]` was put or removed: whether its default marking (or when it became
        the default) changed."""
        body = self.issuers.get(key)
        spec = body.get("spec") if body is not None else None
        marked = isinstance(spec, dict) and spec.get("default") is True
        before = self._defaults.get(key, False)
        scope = (key.kind, key.namespace)
        if body is None or not marked:
            self._defaults.pop(key, None)
            _discard(self._defaults_by_scope, scope, key.name)
            return before is not False
        since = _default_since(body)
        self._defaults[key] = since
        self._defaults_by_scope[scope].add(key.name)
        return before != since

    def defaults_for(self, namespace: str) -> Defaults:
        """What a Certificate of `namespace` without issuerRef resolves among (planning.defaults)."""
        return Defaults(
            namespace=namespace,
            issuers=self._marked(ISSUER, namespace),
            cluster_issuers=self._marked(CLUSTER_ISSUER, ""),
        )

    def marked_default_in_scope(self, key: Key) -> tuple[str, ...]:
        """The issuers of `key`'s kind marked default where it is (its namespace, or the cluster)."""
        return self._marked(key.kind, key.namespace)

    def default_since(self, key: Key) -> datetime | None:
        """When `key`'s Default condition last became True; None if it is not the default (yet)."""
        return self._defaults.get(key)

    def followers_of_scope(self, key: Key) -> set[Key]:
        """The Certificates without issuerRef a change of `key`'s default marking may move: its
        namespace's for an Issuer; for a ClusterIssuer, those of every namespace without a default
        Issuer."""
        if key.kind == ISSUER:
            return set(self._followers.get(key.namespace, ()))
        return {
            follower
            for namespace, followers in self._followers.items()
            if not self._marked(ISSUER, namespace)
            for follower in followers
        }

    def _marked(self, kind: str, namespace: str) -> tuple[str, ...]:
        return tuple(sorted(self._defaults_by_scope.get((kind, namespace), ())))

    def uid_of(self, key: Key) -> str:
        filing = self._filed.get(key)
        return filing.uid if filing else ""

    def certificates_for_secret(self, namespace: str, secret_name: str) -> set[Key]:
        return set(self._by_secret.get((namespace, secret_name), ()))

    def certificates_for_issuer(self, key: Key) -> set[Key]:
        """Those that name it, and those without issuerRef it is the one default of."""
        found = set(self._by_issuer.get(key, ()))
        if key in self._defaults and self.marked_default_in_scope(key) == (key.name,):
            found |= self.followers_of_scope(key)
        return found

    def issued_certificates_for_issuer(self, key: Key) -> list[bytes]:
        """The certificates (DER) the Secrets of this issuer's Certificates hold: what was issued,
        never what a spec asks for. Which of them a CA signed is planning.issuers.rotation.s to check."""
        found = []
        for certificate in self.certificates_for_issuer(key):
            view = self.secrets.get(self._filed[certificate].secret)
            if view is not None and isinstance(view.contents, SecretContents):
                found.append(view.contents.certificate_der)
        return found

    def revoking_certificates_of(self, key: Key) -> set[Key]:
        """Its Certificates whose Secret marks a revoke request served: those waiting for a CRL to
        list their serial."""
        found = set()
        for certificate in self.certificates_for_issuer(key):
            view = self.secrets.get(self._filed[certificate].secret)
            if view is not None and labels.REVOKE_REQUEST in view.annotations:
                found.add(certificate)
        return found

    def bundles_for_issuer(self, key: Key) -> set[Key]:
        """TrustBundles are few; scanning them beats keeping another index in step. A
        NamespacedTrustBundle's Issuer source without a namespace is in the bundle's namespace."""
        found = set()
        for bundle_key, body in self.bundles.items():
            for source in body.get("spec", {}).get("sources", []):
                ref = source.get("issuer")
                if (
                    ref
                    and issuer_key(
                        ref.get("kind", ISSUER),
                        ref.get("namespace") or bundle_key.namespace,
                        ref.get("name", ""),
                    )
                    == key
                ):
                    found.add(bundle_key)
        return found


def published_by_bundles(bundles: Mapping[Key, Body], key: Key) -> dict[str, frozenset[str]]:
    """Bundle (bundle_label) → fingerprints of the CAs it publishes for issuer `key`, in every copy,
    as its status (written by certmint only) records them: what a CA rotation waits for. A
    NamespacedTrustBundle counts only for an Issuer of its own namespace: a namespace owner's bundle
    never holds back the rotation of a ClusterIssuer or of another namespace's Issuer."""
    wanted = issuer_source_id(key.kind, key.namespace, key.name)
    found = {}
    for bundle_key, body in bundles.items():
        if bundle_key.kind == NAMESPACED_TRUST_BUNDLE and (key.kind, key.namespace) != (
            ISSUER,
            bundle_key.namespace,
        ):
            continue
        status = body.get("status")
        recorded = status.get("sources") if isinstance(status, dict) else None
        for entry in recorded if isinstance(recorded, list) else ():
            if isinstance(entry, dict) and entry.get("source") == wanted:
                prints = entry.get("fingerprints")
                found[bundle_label(bundle_key)] = (
                    frozenset(str(p) for p in prints) if isinstance(prints, list) else frozenset()
                )
    return found


def _default_since(body: Body) -> datetime | None:
    """The lastTransitionTime of the Default condition certmint wrote, if it is True."""
    status = body.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for entry in conditions if isinstance(conditions, list) else ():
        if isinstance(entry, dict) and entry.get("type") == DEFAULT and entry.get("status") == "True":
            try:
                return datetime.fromisoformat(str(entry.get("lastTransitionTime")))
            except ValueError:
                return None
    return None


def _discard(index: defaultdict[Bucket, set[Member]], bucket: Bucket, member: Member) -> None:
    members = index.get(bucket)
    if members is not None:
        members.discard(member)
        if not members:
            del index[bucket]
