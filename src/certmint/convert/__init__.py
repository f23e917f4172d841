"""`certmint convert`: cert-manager's Certificates, Issuers and ClusterIssuers and trust-manager's
Bundles as certmint manifests, field by field; what has no equivalent is refused by name. Pure: no
Kubernetes, no files (the CLI reads them)."""

from certmint.convert.conversion import Conversion, NotManifests, convert, parse_documents
from certmint.convert.findings import Note, ObjectRef, Refusal
from certmint.convert.options import CAIssuers, Options

__all__ = [
    "CAIssuers",
    "Conversion",
    "NotManifests",
    "Note",
    "ObjectRef",
    "Options",
    "Refusal",
    "convert",
    "parse_documents",
]
