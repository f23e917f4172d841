"""RFC 5280 name constraints (4.2.1.10): build the extension of a CA, read it back, and check the
names of a leaf against it the way verifiers do, before anything is signed.

Semantics, as OpenSSL and Go enforce them:

- DNS: `example.com` is satisfied by `example.com` and every name below it (`a.example.com`), never by
  a sibling that merely ends the same (`evil-example.com`). A leading dot (`.example.com`) means the
  names below only (an OpenSSL/Go extension; pyca/cryptography's verifier refuses such a constraint,
  so certmint never writes one, but it checks CAs it was given that carry them). Case-insensitive.
- IP: the address lies in the network; an IPv4 network never matches an IPv6 address or vice versa.
- email (rfc822Name): `user@host` is that one mailbox, `host` every mailbox at exactly that host,
  `.example.com` every mailbox at a host below example.com.
- URI: the constraint is a host, compared with the host of the URI only: `host` exactly, `.domain`
  any host below it. The path is never looked at, so `spiffe://cluster.local/ns/a/...` and
  `spiffe://cluster.local/ns/b/...` cannot be told apart by X.509. A URI without a host (`urn:`) or
  with an IP-literal host fails any URI constraint (OpenSSL and Go refuse it).
- Excluded beats permitted. A kind of name with no permitted subtree is not limited by them.
- A subject commonName that looks like a host name (dots, DNS characters) is checked as a DNS name:
  OpenSSL does so when a leaf has no DNS SANs, certmint always (a refusal costs nothing, a signed
  certificate that verifiers reject does).

Where certmint must decide without knowing how a verifier would answer (wildcards, case), it
decides the stricter way: a name is permitted only if every name it can stand for is, and excluded
if any could be.
"""

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Subtrees:
    """One side (permitted or excluded) of a NameConstraints extension, in the forms certmint uses."""

    dns: tuple[str, ...] = ()
    ip: tuple[IPNetwork, ...] = ()
    uri: tuple[str, ...] = ()
    """Hosts: `host` or `.domain`."""
    email: tuple[str, ...] = ()
    """`user@host`, `host` or `.domain`."""

    def __bool__(self) -> bool:
        return bool(self.dns or self.ip or self.uri or self.email)

    def general_names(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in self.dns]
        names += [x509.IPAddress(network) for network in self.ip]
        names += [x509.UniformResourceIdentifier(host) for host in self.uri]
        names += [x509.RFC822Name(address) for address in self.email]
        return names

    @classmethod
    def of(cls, names: Iterable[x509.GeneralName] | None) -> "Subtrees":
        """Only the four kinds certmint checks; directoryName and other kinds are ignored."""
        dns: list[str] = []
        ip: list[IPNetwork] = []
        uri: list[str] = []
        email: list[str] = []
        for name in names or ():
            if isinstance(name, x509.DNSName):
                dns.append(name.value)
            elif isinstance(name, x509.IPAddress) and isinstance(
                name.value, ipaddress.IPv4Network | ipaddress.IPv6Network
            ):
                ip.append(name.value)
            elif isinstance(name, x509.UniformResourceIdentifier):
                uri.append(name.value)
            elif isinstance(name, x509.RFC822Name):
                email.append(name.value)
        return cls(tuple(dns), tuple(ip), tuple(uri), tuple(email))


@dataclass(frozen=True)
class NameConstraintSet:
    permitted: Subtrees = field(default_factory=Subtrees)
    excluded: Subtrees = field(default_factory=Subtrees)

    def __bool__(self) -> bool:
        return bool(self.permitted or self.excluded)

    def extension(self) -> x509.NameConstraints:
        """RFC 5280 asks CAs to mark it critical; raises ValueError when both sides are empty."""
        return x509.NameConstraints(
            permitted_subtrees=self.permitted.general_names() or None,
            excluded_subtrees=self.excluded.general_names() or None,
        )


def constraints_of(certificate: x509.Certificate) -> NameConstraintSet | None:
    try:
        value = certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    return NameConstraintSet(Subtrees.of(value.permitted_subtrees), Subtrees.of(value.excluded_subtrees))


@dataclass(frozen=True)
class LeafNames:
    """The names of a leaf that name constraints apply to."""

    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    common_name: str | None = None


def names_of(certificate: x509.Certificate) -> LeafNames:
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = common_names[0].value if common_names else None
    return LeafNames(
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
        uris=tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)),
        email_addresses=tuple(sans.get_values_for_type(x509.RFC822Name)),
        common_name=common_name if isinstance(common_name, str) else None,
    )


# --- DNS ------------------------------------------------------------------------------------------


def _labels(name: str) -> list[str]:
    return name.lower().rstrip(".").split(".")


def dns_within(name: str, base: str) -> bool:
    """Whether the DNS name `name` (no wildcard) is in the subtree `base` (RFC 5280; leading dot:
    strictly below)."""
    if base == "":
        return True
    strict = base.startswith(".")
    base_labels = _labels(base.removeprefix("."))
    name_labels = _labels(name)
    if len(name_labels) < len(base_labels) or (strict and len(name_labels) == len(base_labels)):
        return False
    return name_labels[len(name_labels) - len(base_labels) :] == base_labels


def dns_permitted_by(name: str, base: str) -> bool:
    """Every name `name` can stand for is in `base`: `*.rest` stands for `<any label>.rest`."""
    if name.startswith("*."):
        return dns_within("x." + name[2:], base)
    return dns_within(name, base)


def dns_excluded_by(name: str, base: str) -> bool:
    """Some name `name` can stand for is in `base`: `*.rest` is excluded by `a.rest` too."""
    if not name.startswith("*."):
        return dns_within(name, base)
    rest = name[2:]
    if dns_within("x." + rest, base):
        return True
    one_below = len(_labels(base)) == len(_labels(rest)) + 1
    return not base.startswith(".") and one_below and dns_within(base, rest)


def looks_like_host(common_name: str) -> bool:
    """What OpenSSL checks as a DNS name in the subject CN: at least two labels of DNS characters."""
    labels = common_name.split(".")
    if len(labels) < 2:
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in (labels[1:] if labels[0] == "*" else labels))


# --- IP, email, URI -------------------------------------------------------------------------------


def ip_within(address: IPAddress, network: IPNetwork) -> bool:
    return address.version == network.version and address in network


def _host_within(host: str, base: str) -> bool:
    """URI and email host semantics: `host` exactly, `.domain` strictly below."""
    host = host.lower().rstrip(".")
    if base.startswith("."):
        return host.endswith(base.lower()) and len(host) > len(base)
    return host == base.lower().rstrip(".")


def email_within(address: str, base: str, *, loose: bool = False) -> bool:
    """`loose` compares the local part case-insensitively (for excluded subtrees: stricter)."""
    local, _, host = address.rpartition("@")
    if "@" in base:
        base_local, _, base_host = base.rpartition("@")
        same_local = local.lower() == base_local.lower() if loose else local == base_local
        return same_local and host.lower() == base_host.lower()
    return _host_within(host, base)


def uri_host(uri: str) -> str | None:
    """The host a URI constraint is compared with; None when there is none a verifier accepts."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return None
    if not parts.netloc or not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None  # Go refuses IP-literal hosts under URI constraints


# --- The check ------------------------------------------------------------------------------------


def violation(constraints: NameConstraintSet, names: LeafNames) -> str | None:
    """None when every name of the leaf satisfies the constraints; else which name fails and why."""
    permitted, excluded = constraints.permitted, constraints.excluded
    dns_names = list(names.dns_names)
    if names.common_name is not None and looks_like_host(names.common_name):
        dns_names.append(names.common_name)
    for name in dns_names:
        blocked = next((base for base in excluded.dns if dns_excluded_by(name, base)), None)
        if blocked is not None:
            return f"DNS name {name} is in the excluded subtree {blocked}"
        if permitted.dns and not any(dns_permitted_by(name, base) for base in permitted.dns):
            return f"DNS name {name} is in none of the permitted subtrees {list(permitted.dns)}"
    for text in names.ip_addresses:
        address = ipaddress.ip_address(text)
        blocked_net = next((net for net in excluded.ip if ip_within(address, net)), None)
        if blocked_net is not None:
            return f"IP address {text} is in the excluded network {blocked_net}"
        if permitted.ip and not any(ip_within(address, net) for net in permitted.ip):
            return f"IP address {text} is in none of the permitted networks {[str(n) for n in permitted.ip]}"
    for email in names.email_addresses:
        blocked = next((base for base in excluded.email if email_within(email, base, loose=True)), None)
        if blocked is not None:
            return f"email address {email} is in the excluded subtree {blocked}"
        if permitted.email and not any(email_within(email, base) for base in permitted.email):
            return f"email address {email} is in none of the permitted subtrees {list(permitted.email)}"
    for uri in names.uris:
        if not (permitted.uri or excluded.uri):
            continue
        host = uri_host(uri)
        if host is None:
            return f"URI {uri} has no host name, which URI name constraints require"
        blocked = next((base for base in excluded.uri if _host_within(host, base)), None)
        if blocked is not None:
            return f"URI {uri} has host {host}, in the excluded subtree {blocked}"
        if permitted.uri and not any(_host_within(host, base) for base in permitted.uri):
            return f"URI {uri} has host {host}, in none of the permitted subtrees {list(permitted.uri)}"
    return None


def chain_violation(certificates: Iterable[x509.Certificate], names: LeafNames) -> str | None:
    """The first constraint of any CA certificate on the path (the signing CA, its intermediates,
    its root) that the names break, naming that CA."""
    for certificate in certificates:
        constraints = constraints_of(certificate)
        if constraints is None:
            continue
        broken = violation(constraints, names)
        if broken is not None:
            return f"{broken} of CA {certificate.subject.rfc4514_string()}"
    return None
