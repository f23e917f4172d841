"""Reading a TrustBundle's sources: one reader per source kind, each returning PEM CA certificates
and (issuers only) PEM CRLs."""

from collections.abc import Awaitable, Callable

from certmint.api.trustbundle import BundleSource
from certmint.operator.context import Context
from certmint.operator.issuer_views import issuer_view
from certmint.operator.state import Key, issuer_key
from certmint.pki import certificates_to_pem


class SourceUnavailable(Exception):
    """A source cannot be read now; publishing without it would silently drop trust."""


class IssuerNotReconciled(Exception):
    """The issuer has no view yet: the bundle waits for that issuer's reconcile."""

    def __init__(self, key: Key) -> None:
        super().__init__(f"{key.kind} {key.name} not reconciled yet")
        self.key = key


SourceContent = tuple[bytes, bytes]


async def read_inline(ctx: Context, source: BundleSource) -> SourceContent:
    return (source.inline_pem or "").encode(), b""


async def read_issuer(ctx: Context, source: BundleSource) -> SourceContent:
    ref = source.issuer
    if ref is None:
        raise SourceUnavailable("no issuer source")
    key = issuer_key(ref.kind, ref.namespace or "", ref.name)
    view = issuer_view(ctx, key)
    if view is None:
        raise IssuerNotReconciled(key)
    if not view.ready:
        raise SourceUnavailable(f"{ref.kind} {ref.name} is not ready: {view.reason}")
    return certificates_to_pem(view.trust.certificates), view.trust.crl_pem


async def read_secret(ctx: Context, source: BundleSource) -> SourceContent:
    ref = source.secret
    if ref is None:
        raise SourceUnavailable("no secret source")
    secret = await ctx.kube.read_secret(ref.namespace, ref.name)
    value = secret.data.get(ref.key) if secret else None
    if value is None:
        raise SourceUnavailable(f"Secret {ref.namespace}/{ref.name} has no key {ref.key}")
    return value, b""


async def read_configmap(ctx: Context, source: BundleSource) -> SourceContent:
    ref = source.config_map
    if ref is None:
        raise SourceUnavailable("no configMap source")
    data = await ctx.kube.read_configmap_data(ref.namespace, ref.name)
    text = data.get(ref.key) if data else None
    if text is None:
        raise SourceUnavailable(f"ConfigMap {ref.namespace}/{ref.name} has no key {ref.key}")
    return text.encode(), b""


Reader = Callable[[Context, BundleSource], Awaitable[SourceContent]]


def reader_for(source: BundleSource) -> Reader:
    if source.inline_pem is not None:
        return read_inline
    if source.issuer is not None:
        return read_issuer
    if source.secret is not None:
        return read_secret
    if source.config_map is not None:
        return read_configmap
    raise SourceUnavailable("a source sets none of issuer, secret, configMap or inlinePEM")


async def read_source(ctx: Context, source: BundleSource) -> SourceContent:
    """The source's CA certificates, and its CRLs (PEM) when it is an issuer."""
    reader = reader_for(source)
    if reader is not read_inline:
        require_served(ctx, source)
    return await reader(ctx, source)


def require_served(ctx: Context, source: BundleSource) -> None:
    """An operator serving a namespace list may not read anything outside it (nor has RBAC to)."""
    served = ctx.config.watch_namespaces
    ref = source.issuer or source.secret or source.config_map
    namespace = getattr(ref, "namespace", None) if ref is not None else None
    if served and namespace and namespace not in served:
        raise SourceUnavailable(f"namespace {namespace} is not among the namespaces this operator serves")
