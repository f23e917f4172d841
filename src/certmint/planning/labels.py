"""Names of the labels and annotations certmint writes on the objects it manages."""

from typing import Final

SECRET_ROLE_LABEL: Final = "certmint.dev/secret-role"
"""On every Secret certmint manages; the operator watches only Secrets carrying it."""
ROLE_LEAF: Final = "leaf"
ROLE_CA: Final = "ca"

CERTIFICATE_NAME: Final = "certmint.dev/certificate-name"
ISSUER_NAME: Final = "certmint.dev/issuer-name"
ISSUER_KIND: Final = "certmint.dev/issuer-kind"
ISSUER_NAMESPACE: Final = "certmint.dev/issuer-namespace"
SERIAL_NUMBER: Final = "certmint.dev/serial-number"
COMMON_NAME: Final = "certmint.dev/common-name"
ALT_NAMES: Final = "certmint.dev/alt-names"
IP_SANS: Final = "certmint.dev/ip-sans"
URI_SANS: Final = "certmint.dev/uri-sans"
EMAIL_SANS: Final = "certmint.dev/email-sans"
SPEC_DIGEST: Final = "certmint.dev/spec-digest"
RENEW_REQUEST: Final = "certmint.dev/renew"
"""On a Certificate: a new value renews it now (`certmint renew`); on its Secret: the value last served."""

TRUST_BUNDLE_LABEL: Final = "certmint.dev/trust-bundle"
"""On every ConfigMap a TrustBundle publishes; its value is the TrustBundle's UID."""
TRUST_BUNDLE_NAME: Final = "certmint.dev/trust-bundle-name"
BUNDLE_DIGEST: Final = "certmint.dev/bundle-digest"
