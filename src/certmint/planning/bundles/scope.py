"""Where a NamespacedTrustBundle may read: its own namespace, and any ClusterIssuer.

Its owner may create it with nothing but rights in that namespace, so every source that spells
another namespace is refused before anything is read: certmint must not read another tenant's
ConfigMap, Secret or Issuer on its behalf. Sources that pass are resolved to the cluster bundle's
sources (namespace filled in), so one reader and one publisher serve both kinds."""

from collections.abc import Sequence

from certmint.api.certificate import IssuerKind
from certmint.api.namespacedtrustbundle import LocalObjectKeySource, NamespacedBundleSource
from certmint.api.trustbundle import BundleSource, IssuerSource, ObjectKeySource


def foreign_sources(namespace: str, sources: Sequence[NamespacedBundleSource]) -> str | None:
    """A message naming every source that spells a namespace other than `namespace`; None when none does."""
    refused = []
    for index, source in enumerate(sources):
        described = _foreign(source)
        if described is not None and described[0] != namespace:
            spelled, what = described
            refused.append(f"sources[{index}] {what} names namespace {spelled}")
    if not refused:
        return None
    return (
        "; ".join(refused)
        + f": a NamespacedTrustBundle reads only from its own namespace {namespace} (and ClusterIssuers); "
        "nothing was read and nothing published"
    )


def _foreign(source: NamespacedBundleSource) -> tuple[str, str] | None:
    """(namespace, description) of a source that spells a namespace."""
    if source.issuer is not None and source.issuer.namespace is not None:
        ref = source.issuer
        return ref.namespace or "", f"{ref.kind} {ref.namespace}/{ref.name}"
    for kind, local in (("Secret", source.secret), ("ConfigMap", source.config_map)):
        if local is not None and local.namespace is not None:
            return local.namespace, f"{kind} {local.namespace}/{local.name}"
    return None


def resolve_sources(namespace: str, sources: Sequence[NamespacedBundleSource]) -> tuple[BundleSource, ...]:
    """The sources as a TrustBundle spells them, each Issuer, Secret and ConfigMap in `namespace`.
    Call after foreign_sources found none: a spelled namespace is replaced, not checked, here."""
    resolved = []
    for source in sources:
        issuer = source.issuer
        resolved.append(
            BundleSource(
                issuer=(
                    IssuerSource(
                        name=issuer.name,
                        kind=issuer.kind,
                        namespace=namespace if issuer.kind == IssuerKind.ISSUER else None,
                    )
                    if issuer is not None
                    else None
                ),
                secret=_in(namespace, source.secret),
                config_map=_in(namespace, source.config_map),
                inline_pem=source.inline_pem,
            )
        )
    return tuple(resolved)


def _in(namespace: str, ref: LocalObjectKeySource | None) -> ObjectKeySource | None:
    return None if ref is None else ObjectKeySource(namespace=namespace, name=ref.name, key=ref.key)
