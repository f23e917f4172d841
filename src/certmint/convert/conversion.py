"""The whole conversion of a set of cert-manager and trust-manager objects: which objects relate
(the CA bootstrap pattern, the issuers Certificates use), each object converted, and every certmint
manifest checked against certmint's own API models before it is written. Pure: objects in, manifests
and findings out."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from certmint.api.certificate import Certificate
from certmint.api.issuer import ClusterIssuer, Issuer
from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, ISSUERS, TRUST_BUNDLES
from certmint.api.trustbundle import TrustBundle
from certmint.convert.bundles import convert_bundle
from certmint.convert.certificates import convert_certificate, is_ca, issuer_ref_of
from certmint.convert.findings import Findings, Note, ObjectRef, Refusal
from certmint.convert.issuers import (
    absorb_self_signed,
    ca_secret_name,
    convert_issuer,
    issuer_type,
    unusable_reason,
    written_by,
)
from certmint.convert.options import Context, Options
from certmint.convert.source import (
    BUNDLE,
    CERT_MANAGER_GROUP,
    CERT_MANAGER_KINDS,
    CERT_MANAGER_VERSION,
    CERTIFICATE,
    CLUSTER_ISSUER,
    ISSUER,
    TRUST_MANAGER_GROUP,
    TRUST_MANAGER_VERSION,
    Source,
    group_of,
    ref_of,
)
from certmint.planning.labels import PREFIX

MODELS: dict[str, type[BaseModel]] = {
    CERTIFICATES.kind: Certificate,
    ISSUERS.kind: Issuer,
    CLUSTER_ISSUERS.kind: ClusterIssuer,
    TRUST_BUNDLES.kind: TrustBundle,
}
OUTPUT_ORDER = (CLUSTER_ISSUERS.kind, ISSUERS.kind, CERTIFICATES.kind, TRUST_BUNDLES.kind)
"""Issuers before the Certificates that use them, bundles last."""
DROPPED_ANNOTATION_PREFIXES = ("kubectl.kubernetes.io/", "cert-manager.io/", "meta.helm.sh/", PREFIX)
"""Annotations of the tools that wrote the cert-manager object, and certmint's own (requests such as
renew or revoke, which whoever applies the output did not ask for): not copied onto the certmint one."""


class NotManifests(ValueError):
    """The input is not YAML or JSON Kubernetes objects."""


@dataclass(frozen=True)
class Conversion:
    manifests: tuple[dict[str, Any], ...]
    refusals: tuple[Refusal, ...]
    notes: tuple[Note, ...]


def parse_documents(text: str, origin: str) -> list[Mapping[str, Any]]:
    """The objects of a YAML stream (JSON is YAML), a List's items one by one; NotManifests naming
    `origin` otherwise."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise NotManifests(f"{origin}: not YAML: {error}") from error
    objects: list[Mapping[str, Any]] = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise NotManifests(f"{origin}: a document is not an object")
        items = document.get("items")
        if str(document.get("kind", "")).endswith("List") and isinstance(items, list):
            if not all(isinstance(item, Mapping) for item in items):
                raise NotManifests(f"{origin}: an item of a List is not an object")
            objects.extend(items)
        else:
            objects.append(document)
    return objects


@dataclass(frozen=True)
class Relations:
    """How the objects of one input relate: what one object converts to depends on others."""

    bootstraps: Mapping[ObjectRef, Source]
    """`ca` issuer -> the isCA Certificate a cert-manager selfSigned issuer made its Secret from."""
    absorbed: frozenset[ObjectRef]
    """Those Certificates, and the selfSigned issuers that made nothing else: written into the `ca`
    issuers, not on their own."""
    allow_ca: frozenset[ObjectRef]
    """Issuers a converted isCA Certificate of their namespace asks."""
    writer_of: Mapping[ObjectRef, ObjectRef]
    """`ca` issuer -> the converted isCA Certificate (an intermediate) writing its Secret."""
    ca_secrets: Mapping[tuple[str, str], ObjectRef]
    """(namespace, Secret) -> the `ca` issuer whose CA it holds."""


def convert(
    objects: Iterable[Mapping[str, Any]], options: Options, namespace: str | None = None
) -> Conversion:
    """certmint manifests for `objects`; `namespace` for namespaced objects that name none."""
    sources, refusals, notes = _classify(objects, namespace)
    certificates = [s for s in sources if s.ref.kind == CERTIFICATE]
    issuers = {s.ref: s for s in sources if s.ref.kind in (ISSUER, CLUSTER_ISSUER)}
    relations = _relate(certificates, issuers, options)
    unusable = {ref: reason for ref, s in issuers.items() if (reason := unusable_reason(s)) is not None}
    for ref, writer in relations.writer_of.items():
        unusable[ref] = f"refused ({written_by(writer, str(ca_secret_name(issuers[ref])))})"
    context = Context(options, unusable)
    findings = {s.ref: Findings(s.ref) for s in sources}

    manifests: list[tuple[Source, dict[str, Any]]] = []
    for ref, issuer in issuers.items():
        if ref in relations.absorbed:
            absorb_self_signed(issuer, findings[ref])
            continue
        bootstrap = relations.bootstraps.get(ref)
        converted = convert_issuer(
            issuer,
            context,
            findings[ref],
            (bootstrap, findings[bootstrap.ref]) if bootstrap else None,
            ref in relations.allow_ca,
            relations.writer_of.get(ref),
        )
        manifests.append((issuer, converted))
    for certificate in certificates:
        if certificate.ref not in relations.absorbed:
            converted = convert_certificate(certificate, context, findings[certificate.ref])
            manifests.append((certificate, converted))
    for bundle in (s for s in sources if s.ref.kind == BUNDLE):
        converted = convert_bundle(bundle, context, findings[bundle.ref], relations.ca_secrets)
        manifests.append((bundle, converted))

    written = []
    for source, manifest in manifests:
        found = findings[source.ref]
        manifest["metadata"] = _metadata(source, found)
        _validate(manifest, found)
        if not found.refusals:
            written.append(manifest)
    for found in findings.values():
        refusals.extend(found.refusals)
        if not found.refusals:  # what to do about an object that is not written is moot
            notes.extend(found.notes)
    written.sort(key=_order)
    return Conversion(tuple(written), tuple(refusals), tuple(notes))


def _classify(
    objects: Iterable[Mapping[str, Any]], namespace: str | None
) -> tuple[list[Source], list[Refusal], list[Note]]:
    """cert-manager's and trust-manager's objects; a refusal for another version of them, a note for
    every other object."""
    sources: list[Source] = []
    refusals: list[Refusal] = []
    notes: list[Note] = []
    for body in objects:
        group, version = group_of(body.get("apiVersion"))
        kind = body.get("kind")
        ours = (group == CERT_MANAGER_GROUP and kind in CERT_MANAGER_KINDS) or (
            group == TRUST_MANAGER_GROUP and kind == BUNDLE
        )
        ref = ref_of(body, namespace)
        if ours and kind not in (CERTIFICATE, ISSUER):
            ref = ObjectRef(ref.kind, None, ref.name)
        if not ours:
            notes.append(
                Note(ref, f"ignored: not a cert-manager or trust-manager kind ({body.get('apiVersion')})")
            )
            continue
        expected = CERT_MANAGER_VERSION if group == CERT_MANAGER_GROUP else TRUST_MANAGER_VERSION
        if version != expected:
            refusals.append(Refusal(ref, "apiVersion", f"{group}/{version} is not {group}/{expected}"))
            continue
        if ref.name == "(no name)":
            refusals.append(Refusal(ref, "metadata.name", "required"))
            continue
        sources.append(Source(ref, body))
    return sources, refusals, notes


def _relate(
    certificates: Sequence[Source], issuers: Mapping[ObjectRef, Source], options: Options
) -> Relations:
    users: dict[ObjectRef, list[Source]] = {}
    for certificate in certificates:
        used = issuer_ref_of(certificate, Findings(certificate.ref))  # its refusals come with it later
        if used is not None:
            users.setdefault(used, []).append(certificate)
    bootstraps = _bootstraps(issuers, users, options)
    absorbed = {certificate.ref for certificate in bootstraps.values()}
    absorbed |= {
        ref
        for ref, issuer in issuers.items()
        if issuer_type(issuer) == "selfSigned"
        and users.get(ref)
        and all(user.ref in absorbed for user in users[ref])
    }
    allow_ca = {
        issuer
        for issuer, using in users.items()
        if issuer.kind == ISSUER and any(is_ca(user) and user.ref not in absorbed for user in using)
    }
    ca_writers = {
        (certificate.ref.namespace, certificate.spec.get("secretName")): certificate.ref
        for certificate in certificates
        if is_ca(certificate) and certificate.ref not in absorbed
    }
    writer_of = {
        ref: writer
        for ref, issuer in issuers.items()
        if (writer := ca_writers.get((_secret_namespace(ref, options), ca_secret_name(issuer))))
    }
    ca_secrets = {
        (str(_secret_namespace(ref, options)), secret): ref
        for ref, issuer in issuers.items()
        if issuer_type(issuer) == "ca" and (secret := ca_secret_name(issuer))
    }
    return Relations(bootstraps, frozenset(absorbed), frozenset(allow_ca), writer_of, ca_secrets)


def _bootstraps(
    issuers: Mapping[ObjectRef, Source],
    users: Mapping[ObjectRef, list[Source]],
    options: Options,
) -> dict[ObjectRef, Source]:
    """ca issuer -> the isCA Certificate a cert-manager selfSigned issuer writes its Secret from."""
    found: dict[ObjectRef, Source] = {}
    self_signed = {ref for ref, issuer in issuers.items() if issuer_type(issuer) == "selfSigned"}
    for ref, issuer in issuers.items():
        secret = ca_secret_name(issuer)
        if issuer_type(issuer) != "ca" or secret is None:
            continue
        namespace = _secret_namespace(ref, options)
        for self_signed_ref in self_signed:
            for certificate in users.get(self_signed_ref, []):
                if (
                    is_ca(certificate)
                    and certificate.ref.namespace == namespace
                    and certificate.spec.get("secretName") == secret
                ):
                    found.setdefault(ref, certificate)
    return found


def _secret_namespace(issuer: ObjectRef, options: Options) -> str | None:
    """Where cert-manager reads an issuer's CA Secret."""
    return options.cluster_resource_namespace if issuer.kind == CLUSTER_ISSUER else issuer.namespace


def _metadata(source: Source, findings: Findings) -> dict[str, Any]:
    """Name, namespace, labels and the users' annotations; what the API server and cert-manager
    wrote (uid, managedFields, ownerReferences, ...) stays behind."""
    metadata: dict[str, Any] = {"name": source.ref.name}
    if source.ref.namespace and source.ref.kind in (CERTIFICATE, ISSUER):
        metadata["namespace"] = source.ref.namespace
    labels = source.metadata.get("labels")
    if isinstance(labels, Mapping) and labels:
        metadata["labels"] = dict(labels)
    annotations = source.metadata.get("annotations")
    if isinstance(annotations, Mapping):
        kept = {k: v for k, v in annotations.items() if not str(k).startswith(DROPPED_ANNOTATION_PREFIXES)}
        if kept:
            metadata["annotations"] = kept
        ignored = sorted(str(k) for k in annotations if str(k).startswith(("cert-manager.io/", PREFIX)))
        if ignored:
            findings.note(f"metadata.annotations: not converted: {', '.join(ignored)}")
    owners = source.metadata.get("ownerReferences")
    if isinstance(owners, list) and owners:
        kinds = ", ".join(f"{o.get('kind')} {o.get('name')}" for o in owners if isinstance(o, Mapping))
        findings.note(f"made by another object ({kinds}): the converted object stands alone")
    return metadata


def _validate(manifest: dict[str, Any], findings: Findings) -> None:
    """A refusal for each value certmint's API would not accept (types, patterns, ranges)."""
    try:
        MODELS[manifest["kind"]].model_validate(manifest)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"] if not str(part).startswith("function"))
            findings.refuse(where, f"certmint would not accept it: {problem['msg']}")


def _order(manifest: dict[str, Any]) -> tuple[int, str, str]:
    metadata = manifest["metadata"]
    return OUTPUT_ORDER.index(manifest["kind"]), metadata.get("namespace") or "", metadata["name"]
