"""Names of the labels and annotations certmint writes on the objects it manages."""

from typing import Final

PREFIX: Final = "certmint.dev/"
"""certmint's own labels and annotations; a secretTemplate cannot set any of them."""
SECRET_ROLE_LABEL: Final = "certmint.dev/secret-role"
"""On every Secret certmint manages; the operator watches only Secrets carrying it."""
ROLE_LEAF: Final = "leaf"
ROLE_CA: Final = "ca"
ROLE_TRUST_BUNDLE: Final = "trust-bundle"
"""A TrustBundle's published Secret (its `secret` target): CA certificates only, never a key."""

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
REVOKE_REQUEST: Final = "certmint.dev/revoke"
"""On a Certificate: a new value revokes its current certificate (`certmint revoke`); on its Secret:
the value last served."""
REVOKE_REASON: Final = "certmint.dev/revoke-reason"
"""On a Certificate: the RFC 5280 reason of its revoke request (keyCompromise, ...)."""
REVOKE_REISSUE: Final = "certmint.dev/revoke-reissue"
"""On a Certificate: "false" leaves it without a certificate after a revocation."""
REVOKED_SERIAL: Final = "certmint.dev/revoked-serial"
"""On a Secret: the serial of the revoked certificate it still holds, until a new one replaces it."""

TRUST_BUNDLE_LABEL: Final = "certmint.dev/trust-bundle"
"""On every ConfigMap and Secret a TrustBundle publishes; its value is the TrustBundle's UID."""
TRUST_BUNDLE_NAME: Final = "certmint.dev/trust-bundle-name"
BUNDLE_DIGEST: Final = "certmint.dev/bundle-digest"

CERTIFICATE_UID: Final = "certmint.dev/certificate-uid"
"""On a Secret: the UID of the Certificate it belongs to, written by certmint."""
CREATED_FOR: Final = "certmint.dev/created-for"
"""On a Secret: the UID of the Certificate certmint created it for; only such a Secret may carry an
ownerReference to that Certificate (cleanupSecretOnDelete)."""
ALLOW_ADOPTION_BY: Final = "certmint.dev/allow-adoption-by"
"""On an existing Secret: the name of a Certificate that may take it over. Only someone allowed to
write the Secret can set it, which is what makes adoption safe."""
ALLOW_IMPORT_BY: Final = "certmint.dev/allow-import-by"
"""On a Secret holding a root CA: the issuer that may import it, as Issuer/<name> (an Issuer of the
Secret's namespace) or ClusterIssuer/<name>. Only someone allowed to write the Secret can set it."""
PKCS12_PASSWORD: Final = "certmint.dev/pkcs12-password"
"""Label or annotation "true" on a Secret: Certificates of its namespace may read it as a PKCS#12
password. Without it certmint reads no Secret on a tenant's behalf."""
CONTESTED_REPAIRS: Final = "certmint.dev/contested-repairs"
"""On a Secret: how many times in a row certmint repaired a change another writer made."""

CERT_MANAGER_PREFIX: Final = "cert-manager.io/"
"""cert-manager's annotations, written on a Certificate's Secret only with spec.certManagerAnnotations
(for tools that filter on them after a migration); certmint removes only those it wrote itself."""
CM_CERTIFICATE_NAME: Final = "cert-manager.io/certificate-name"
CM_ISSUER_NAME: Final = "cert-manager.io/issuer-name"
CM_ISSUER_KIND: Final = "cert-manager.io/issuer-kind"
CM_ISSUER_GROUP: Final = "cert-manager.io/issuer-group"
"""certmint.dev on what certmint wrote; cert-manager.io on what cert-manager wrote."""
CM_COMMON_NAME: Final = "cert-manager.io/common-name"
CM_ALT_NAMES: Final = "cert-manager.io/alt-names"
CM_IP_SANS: Final = "cert-manager.io/ip-sans"
CM_URI_SANS: Final = "cert-manager.io/uri-sans"
CM_EMAIL_SANS: Final = "cert-manager.io/email-sans"
CM_SUBJECT_ORGANIZATIONS: Final = "cert-manager.io/subject-organizations"

CLUSTER_TRUST_BUNDLE_LABEL: Final = "certmint.dev/cluster-trust-bundle"
"""On every ClusterTrustBundle certmint publishes (value "true"); the operator watches only those."""

BUCKET_LABEL: Final = "certmint.dev/bucket"
"""On every Certificate and every Secret certmint manages: the shard bucket (planning.shards) that
decides which replica serves it. Only a label selector: a tenant who sets another bucket changes
nothing but which replica serves the object (certmint relabels it to the bucket its name hashes to)."""
SHARED_BUCKET: Final = "shared"
"""The bucket label value of Secrets every replica watches: issuers' CA Secrets."""
