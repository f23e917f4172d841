"""Which markings certmint itself wrote on an object, from its managedFields.

A label is the cheap filter of a watch, but anyone allowed to write a Secret or ConfigMap can set
certmint's labels and annotations on it. What such an object means to certmint (the CA Secret of
an issuer, a published copy of a TrustBundle) is taken only from a marking one of certmint's own
field managers wrote. Field manager names are chosen by the client, so this stops a tenant who
copies certmint's labels, not one who deliberately writes with certmint's field manager name;
where the object's place says more (a namespaced Issuer's CA Secret lives in that namespace) that
is checked as well.
"""

from collections.abc import Iterable, Mapping
from typing import Any, Final

from certmint.planning import labels

FIELD_MANAGER: Final = "certmint"
"""certmint's field manager for every object it writes in full."""
WATCH_FIELD_MANAGER: Final = "certmint-watch"
"""certmint's field manager for the labels it adds to a user's CA Secret."""
CERTMINT_MANAGERS: Final = frozenset({FIELD_MANAGER, WATCH_FIELD_MANAGER})


def certmint_labels(
    managed_fields: Iterable[Mapping[str, Any]], managers: frozenset[str] = CERTMINT_MANAGERS
) -> frozenset[str]:
    """Keys of the labels one of `managers` owns, per managedFields."""
    return _owned_metadata_keys(managed_fields, "f:labels", managers)


def certmint_annotations(
    managed_fields: Iterable[Mapping[str, Any]], managers: frozenset[str] = CERTMINT_MANAGERS
) -> frozenset[str]:
    """Keys of the annotations one of `managers` owns, per managedFields."""
    return _owned_metadata_keys(managed_fields, "f:annotations", managers)


def _owned_metadata_keys(
    managed_fields: Iterable[Mapping[str, Any]], field: str, managers: frozenset[str]
) -> frozenset[str]:
    owned: set[str] = set()
    for entry in managed_fields:
        if not isinstance(entry, Mapping) or entry.get("manager") not in managers:
            continue
        fields = entry.get("fieldsV1")
        metadata = fields.get("f:metadata") if isinstance(fields, Mapping) else None
        found = metadata.get(field) if isinstance(metadata, Mapping) else None
        if isinstance(found, Mapping):
            owned.update(key[2:] for key in found if isinstance(key, str) and key.startswith("f:"))
    return frozenset(owned)


def marked_by_certmint(
    body: Mapping[str, Any], label: str, managers: frozenset[str] = CERTMINT_MANAGERS
) -> bool:
    """Whether the object (as the API serves it) carries `label` as written by certmint."""
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        return False
    managed = metadata.get("managedFields")
    return label in certmint_labels(managed if isinstance(managed, list) else (), managers)


def ca_secret_issuer(
    secret_namespace: str, annotations: Mapping[str, str], operator_namespace: str
) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of the issuer a CA Secret names, if the Secret is where that issuer
    keeps its CA: an Issuer's in its own namespace, a ClusterIssuer's in the operator's. A Secret
    elsewhere naming an issuer is someone's forgery, and wakes nothing."""
    kind = annotations.get(labels.ISSUER_KIND, "Issuer")
    name = annotations.get(labels.ISSUER_NAME, "")
    if not name:
        return None
    if kind == "ClusterIssuer":
        return (kind, "", name) if secret_namespace == operator_namespace else None
    if kind != "Issuer":
        return None
    namespace = annotations.get(labels.ISSUER_NAMESPACE, "")
    return (kind, namespace, name) if namespace == secret_namespace else None
