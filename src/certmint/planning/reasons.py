"""Condition and event reasons of the tenant-safety rules, in one place."""

from typing import Final

SECRET_NOT_OWNED: Final = "SecretNotOwned"
"""The Secret exists and nothing says it belongs to this Certificate: certmint does not write it."""
SECRET_IS_ISSUER_CA: Final = "SecretIsIssuerCA"
"""The Secret is (or will be) the CA Secret of an Issuer or ClusterIssuer: never a leaf target."""
SECRET_CONTESTED: Final = "SecretContested"
"""Another writer keeps changing the Secret; certmint repairs it only with exponential backoff."""
CONFIGMAP_CONTESTED: Final = "ConfigMapContested"
"""Another writer keeps changing a published ConfigMap; it is put back only with exponential backoff."""
PASSWORD_SECRET_NOT_ALLOWED: Final = "PasswordSecretNotAllowed"
"""A PKCS#12 passwordSecretRef names a Secret that did not opt in to being read for Certificates."""
RESERVED_NAME: Final = "ReservedName"
"""A TrustBundle named like a ConfigMap Kubernetes itself publishes."""
INVALID_SPEC: Final = "InvalidSpec"
POLICY_DENIED: Final = "PolicyDenied"
INVALID_SOURCE: Final = "InvalidSource"
