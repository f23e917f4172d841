"""The default issuer: which issuer a Certificate without issuerRef uses, and whether an issuer marked
default is the one default of its scope.

An Issuer marked default serves its own namespace only and wins there over a default ClusterIssuer;
a ClusterIssuer marked default serves every namespace without a default Issuer. Two defaults for
the same namespace are never chosen between: the Certificates that need one say so and wait.
"""

from dataclasses import dataclass
from datetime import datetime

from certmint.api.certificate import IssuerKind, IssuerRef
from certmint.planning import reasons
from certmint.planning.gates import Fail

NAMED_IN_MESSAGE = 3
"""At most this many issuers are named in a message: a tenant may mark any number of its Issuers."""


@dataclass(frozen=True)
class Defaults:
    """The issuers marked spec.default that one namespace's Certificates may resolve to, by name."""

    namespace: str
    issuers: tuple[str, ...] = ()
    """Issuers of `namespace` marked default."""
    cluster_issuers: tuple[str, ...] = ()
    """ClusterIssuers marked default."""


@dataclass(frozen=True)
class Resolved:
    """The issuer a Certificate uses."""

    ref: IssuerRef
    default_since: datetime | None = None
    """Set when the Certificate follows the default issuer (it has no issuerRef): when `ref` became
    the default, the anchor of the spread re-issue of the Certificates a former default issued."""


@dataclass(frozen=True)
class Standing:
    """The Default condition of an issuer marked spec.default."""

    is_default: bool
    reason: str
    message: str


def resolve_issuer(ref: IssuerRef | None, defaults: Defaults) -> IssuerRef | Fail:
    """An explicit issuerRef, whatever the defaults; else the namespace's one default Issuer; else,
    with no default Issuer there (two are ambiguous, never a reason to fall back), the one default
    ClusterIssuer."""
    if ref is not None:
        return ref
    if defaults.issuers:
        return _the_one(IssuerKind.ISSUER, defaults.issuers, defaults.namespace)
    if defaults.cluster_issuers:
        return _the_one(IssuerKind.CLUSTER_ISSUER, defaults.cluster_issuers, defaults.namespace)
    return Fail(
        reasons.NO_DEFAULT_ISSUER,
        f"spec.issuerRef is not set and no Issuer of namespace {defaults.namespace} nor any ClusterIssuer "
        "is marked default; set spec.issuerRef or mark an issuer spec.default",
        retryable=True,
    )


def default_standing(kind: IssuerKind, name: str, marked_in_scope: tuple[str, ...]) -> Standing:
    """For an issuer marked default: `marked_in_scope` are the issuers of its kind marked default in
    its scope (its namespace for an Issuer, the cluster for a ClusterIssuer), itself included."""
    others = tuple(other for other in marked_in_scope if other != name)
    if others:
        return Standing(False, reasons.AMBIGUOUS_DEFAULT_ISSUER, _ambiguous(kind, (name, *others)))
    scope = "of its namespace" if kind == IssuerKind.ISSUER else "of every namespace without a default Issuer"
    return Standing(True, reasons.DEFAULT_ISSUER, f"the default issuer {scope}")


def _the_one(kind: IssuerKind, names: tuple[str, ...], namespace: str) -> IssuerRef | Fail:
    if len(names) == 1:
        return IssuerRef(name=names[0], kind=kind)
    where = f" in namespace {namespace}" if kind == IssuerKind.ISSUER else ""
    return Fail(
        reasons.AMBIGUOUS_DEFAULT_ISSUER,
        f"{_ambiguous(kind, names)}{where}: none of them issues until only one is marked "
        "(or spec.issuerRef is set)",
        retryable=False,
    )


def _ambiguous(kind: IssuerKind, names: tuple[str, ...]) -> str:
    ordered = sorted(names)
    named = [f"{kind.value} {name}" for name in ordered[:NAMED_IN_MESSAGE]]
    if len(ordered) > NAMED_IN_MESSAGE:
        named.append(f"{len(ordered) - NAMED_IN_MESSAGE} more")
    listed = f"{', '.join(named[:-1])} and {named[-1]}"
    return f"{listed} are {'both' if len(ordered) == 2 else 'all'} marked default"
