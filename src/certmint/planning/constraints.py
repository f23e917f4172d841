"""Which name constraints an issuer's CA carries, and the gate that keeps certmint from signing
outside them. Pure.

A namespaced Issuer's key can be read by whoever reads Secrets in its namespace. Without constraints
that CA, once trusted by other namespaces, lets that tenant mint any identity for them. So unless
its spec says otherwise, a namespaced selfSigned Issuer's CA is limited to what its namespace may
hold:

- DNS: `<ns>.svc` and `<ns>.svc.<cluster domain>` (every Service name of the namespace), plus the
  literal suffix of each pattern of its policy's allowedDNSNames (`*.${namespace}.example.com` adds
  `<ns>.example.com`), except suffixes reaching other namespaces' Service names, which are dropped;
- URI: not constrained. X.509 URI constraints compare the host only, so the best they could say is
  "trust domain cluster.local", which every namespace shares: the `/ns/<ns>/` path of a SPIFFE ID
  cannot be expressed, and is kept by certmint's own signing rules (planning.identity), not by the
  certificate. And pyca/cryptography's verifier (certmint inspect) and rustls-webpki reject every
  leaf with a URI SAN under a CA with URI constraints; `nameConstraints.permitted.uriDomains` sets
  them explicitly for peers that verify with OpenSSL, BoringSSL or Go only;
- IP: its policy's allowedIPAddresses, or none (0.0.0.0/0 and ::/0 excluded);
- email: the domains of its policy's allowedEmailAddresses, or none (only the reserved host
  `invalid`, RFC 2606, is permitted).

A ClusterIssuer's CA is unconstrained unless its spec sets them.
"""

import ipaddress
from dataclasses import dataclass

from certmint.api.issuer import IssuancePolicy, Issuer, NameConstraintsSpec, NameSubtrees
from certmint.pki import (
    CertificateAuthority,
    LeafNames,
    LeafRequest,
    NameConstraintSet,
    PKIError,
    Subtrees,
    chain_violation,
)
from certmint.pki.constraints import IPNetwork, dns_within
from certmint.pki.names import validate_dns_name

ISSUER_KIND = "Issuer"
NO_EMAIL_HOST = "invalid"
"""RFC 2606's reserved top-level domain: permitting only it permits no real mailbox."""
EVERY_IP = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


@dataclass(frozen=True)
class ClusterNames:
    """The operator's view of the names a cluster hands out."""

    cluster_domain: str = "cluster.local"

    def service_domains(self) -> tuple[str, str]:
        """Where every namespace's Service names live."""
        return ("svc", f"svc.{self.cluster_domain}")

    def namespace_service_domains(self, namespace: str) -> tuple[str, str]:
        return (f"{namespace}.svc", f"{namespace}.svc.{self.cluster_domain}")


def ca_name_constraints(issuer: Issuer, names: ClusterNames) -> NameConstraintSet:
    """What the issuer's next CA carries. Raises ValueError when a namespaced Issuer's spec permits
    another namespace's Service names."""
    self_signed = issuer.spec.self_signed
    if self_signed is None:
        return NameConstraintSet()
    namespace = issuer.metadata.namespace or ""
    namespaced = issuer.kind == ISSUER_KIND and bool(namespace)
    if self_signed.name_constraints is not None:
        constraints = from_spec(self_signed.name_constraints)
        if namespaced:
            foreign = next(
                (d for d in constraints.permitted.dns if reaches_other_namespaces(d, namespace, names)), None
            )
            if foreign is not None:
                raise ValueError(
                    f"selfSigned.nameConstraints.permitted.dnsDomains: {foreign} reaches other namespaces' "
                    f"Service names; an Issuer in {namespace} may permit "
                    f"{' and '.join(names.namespace_service_domains(namespace))} or names outside "
                    f"{' and '.join(names.service_domains())}"
                )
        return constraints
    if not namespaced:
        return NameConstraintSet()
    return namespace_constraints(namespace, issuer.spec.policy, names)


def from_spec(spec: NameConstraintsSpec) -> NameConstraintSet:
    return NameConstraintSet(_subtrees(spec.permitted), _subtrees(spec.excluded))


def _subtrees(spec: NameSubtrees | None) -> Subtrees:
    if spec is None:
        return Subtrees()
    return Subtrees(
        dns=tuple(spec.dns_domains or ()),
        ip=tuple(_network(text) for text in spec.ip_ranges or ()),
        uri=tuple(spec.uri_domains or ()),
        email=tuple(spec.email_addresses or ()),
    )


def _network(text: str) -> IPNetwork:
    """The API server checks the shape of a CIDR only (isCIDR needs Kubernetes 1.31; the chart
    supports 1.30): the rest is the Issuer's InvalidSpec."""
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise ValueError(
            f"selfSigned.nameConstraints ipRanges: {text!r} is not a network (host bits must be zero)"
        ) from error


def reaches_other_namespaces(domain: str, namespace: str, names: ClusterNames) -> bool:
    """Whether the DNS subtree `domain` holds a Service name of a namespace other than `namespace`."""
    for service_domain, own in zip(
        names.service_domains(), names.namespace_service_domains(namespace), strict=True
    ):
        if dns_within(service_domain, domain):  # svc itself, or above it: every namespace
            return True
        if dns_within(domain, service_domain) and not dns_within(domain, own):
            return True
    return False


def namespace_constraints(
    namespace: str, policy: IssuancePolicy | None, names: ClusterNames
) -> NameConstraintSet:
    """The default of a namespaced selfSigned Issuer (see the module docstring)."""
    dns = list(names.namespace_service_domains(namespace))
    ip: list[IPNetwork] = []
    email: list[str] = []
    if policy is not None:
        for pattern in policy.allowed_dns_names or ():
            suffix = _literal_suffix(pattern, namespace)
            if suffix and not reaches_other_namespaces(suffix, namespace, names):
                dns.append(suffix)
        for text in policy.allowed_ip_addresses or ():
            try:
                ip.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                continue  # a malformed CIDR allows nothing in the policy either
        for pattern in policy.allowed_email_addresses or ():
            domain = _email_pattern_domain(pattern, namespace)
            if domain:
                email.append(domain)
    permitted = Subtrees(
        dns=_unique(dns),
        ip=tuple(dict.fromkeys(ip)),
        email=_unique(email or [NO_EMAIL_HOST]),
    )
    excluded = Subtrees() if ip else Subtrees(ip=EVERY_IP)
    return NameConstraintSet(permitted, excluded)


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value.lower() for value in values))


def _literal_suffix(pattern: str, namespace: str) -> str | None:
    """The DNS subtree that holds every name a policy pattern matches: the labels right of the last
    one holding a wildcard or ${serviceAccount}. None when that leaves nothing valid."""
    labels = pattern.replace("${namespace}", namespace).lower().split(".")
    variable = [i for i, label in enumerate(labels) if "*" in label or "$" in label]
    suffix = ".".join(labels[variable[-1] + 1 :] if variable else labels)
    return suffix if _valid_domain(suffix) else None


def _email_pattern_domain(pattern: str, namespace: str) -> str | None:
    domain = pattern.replace("${namespace}", namespace).rpartition("@")[2]
    if "*" in domain or "$" in domain:
        suffix = _literal_suffix(domain, namespace)
        return f".{suffix}" if suffix else None
    return domain.lower() if _valid_domain(domain) else None


def _valid_domain(domain: str) -> bool:
    if not domain:
        return False
    try:
        validate_dns_name(domain)
    except PKIError:
        return False
    return "*" not in domain


def constraint_denial(ca: CertificateAuthority, leaf: LeafRequest) -> str | None:
    """Why the CA must not sign a leaf with these names (a constraint of the CA, its intermediates
    or its root that they break); None when it may."""
    path = (ca.certificate, *ca.chain, *((ca.root_certificate,) if ca.root_certificate else ()))
    names = LeafNames(leaf.dns_names, leaf.ip_addresses, leaf.uris, leaf.email_addresses, leaf.common_name)
    broken = chain_violation(path, names)
    if broken is None:
        return None
    return f"nameConstraints: {broken}; verifiers would reject that certificate, so it is not signed"
