"""PKCS#10 certificate signing requests: building one on a user's machine, and reading one that
arrived from anywhere. Everything in a received CSR is hostile: it is parsed strictly, its
signature must match its key, and only the subject's CN and O and the four kinds of SAN certmint
signs are taken from it. Other requested extensions are never copied into a certificate."""

import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from certmint.pki.errors import (
    INVALID_KEY,
    INVALID_REQUEST,
    INVALID_SIGNATURE,
    REQUEST_TOO_LARGE,
    PKIError,
    first_line,
)
from certmint.pki.keys import PrivateKey, PublicKey, require_supported_key
from certmint.pki.leaf import LeafRequest, require_name_counts_within_limits, validate_leaf_request
from certmint.pki.signing import signature_hash

_SUBJECT_ATTRIBUTES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O"}

MAX_REQUEST_BYTES = 64 * 1024
"""Most bytes of PEM a received CSR may have; larger ones are refused before parsing. A CSR with a
4096-bit RSA key and 256 DNS names of 157 characters is 57 KB of PEM; a typical one is under 2 KB.
(256 names of the full 253 characters do not fit: such a workload asks with a Certificate.)"""


@dataclass(frozen=True)
class RequestedNames:
    common_name: str | None = None
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()

    def leaf(self) -> LeafRequest:
        """These names as a certificate's, with the default lifetime and usages."""
        return LeafRequest(
            common_name=self.common_name,
            organization=self.organizations,
            dns_names=self.dns_names,
            ip_addresses=self.ip_addresses,
            uris=self.uris,
            email_addresses=self.email_addresses,
        )


@dataclass(frozen=True)
class SigningRequest:
    """What a verified CSR asks for. `asks_ca` when it requests basicConstraints CA:TRUE or the
    keyCertSign/cRLSign key usages: then it is judged as a CA request."""

    public_key: PublicKey
    names: RequestedNames
    asks_ca: bool


def build_csr(key: PrivateKey, names: RequestedNames) -> bytes:
    """A PEM CSR signed by `key`, with the names as subject (CN, O) and subjectAltName. Names are
    checked as certmint checks a Certificate's, so a bad one fails here, not at the signer."""
    validate_leaf_request(names.leaf())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in names.organizations]
    if names.common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, names.common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    general_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names.dns_names]
    general_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in names.ip_addresses]
    general_names += [x509.UniformResourceIdentifier(uri) for uri in names.uris]
    general_names += [x509.RFC822Name(email) for email in names.email_addresses]
    if general_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    csr = builder.sign(key, signature_hash(key))
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: bytes) -> SigningRequest:
    """Raises PKIError: RequestTooLarge (over MAX_REQUEST_BYTES, before parsing), TooManyNames (more
    names of a kind than a certificate may hold, before any name is validated), InvalidRequest (does
    not parse, unsupported subject or names), InvalidSignature (not signed by its own key),
    InvalidKey (weak or unsupported key)."""
    if len(pem) > MAX_REQUEST_BYTES:
        raise PKIError(
            REQUEST_TOO_LARGE,
            f"the request is {len(pem)} bytes; certmint reads requests of at most {MAX_REQUEST_BYTES} bytes",
        )
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as error:
        raise PKIError(INVALID_REQUEST, f"not a PEM certificate request: {first_line(error)}") from error
    try:
        public_key = csr.public_key()
    except (ValueError, TypeError) as error:
        raise PKIError(INVALID_KEY, f"unsupported public key: {first_line(error)}") from error
    require_supported_key(public_key)
    if not csr.is_signature_valid:
        raise PKIError(INVALID_SIGNATURE, "the request's signature does not match its public key")
    try:
        names = _names(csr)
        asks_ca = _asks_ca(csr)
    except PKIError:
        raise  # already precise (PKIError is a ValueError too)
    except ValueError as error:
        raise PKIError(INVALID_REQUEST, f"unreadable request: {first_line(error)}") from error
    return SigningRequest(public_key=public_key, names=names, asks_ca=asks_ca)  # type: ignore[arg-type]


def _names(csr: x509.CertificateSigningRequest) -> RequestedNames:
    common_names: list[str] = []
    organizations: list[str] = []
    for attribute in csr.subject:
        label = _SUBJECT_ATTRIBUTES.get(attribute.oid)
        if label is None:
            raise PKIError(
                INVALID_REQUEST,
                f"subject attribute {attribute.oid.dotted_string} ({attribute.rfc4514_string()!r}) is not "
                "signed; a request's subject may hold only CN and O",
            )
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.decode()
        (common_names if label == "CN" else organizations).append(value)
    if len(common_names) > 1:
        raise PKIError(INVALID_REQUEST, "the subject has more than one CN")
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    require_name_counts_within_limits(
        organizations=len(organizations),
        dns_names=sum(isinstance(name, x509.DNSName) for name in sans),
        ip_addresses=sum(isinstance(name, x509.IPAddress) for name in sans),
        uris=sum(isinstance(name, x509.UniformResourceIdentifier) for name in sans),
        email_addresses=sum(isinstance(name, x509.RFC822Name) for name in sans),
    )
    for name in sans:
        if not isinstance(
            name, (x509.DNSName, x509.IPAddress, x509.UniformResourceIdentifier, x509.RFC822Name)
        ):
            raise PKIError(
                INVALID_REQUEST,
                f"subject alternative name of type {type(name).__name__} is not signed; only DNS, IP, "
                "URI and email names are",
            )
    return RequestedNames(
        common_name=common_names[0] if common_names else None,
        organizations=tuple(organizations),
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(address) for address in sans.get_values_for_type(x509.IPAddress)),
        uris=tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)),
        email_addresses=tuple(sans.get_values_for_type(x509.RFC822Name)),
    )


def _asks_ca(csr: x509.CertificateSigningRequest) -> bool:
    extensions = csr.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.key_cert_sign or usage.crl_sign
