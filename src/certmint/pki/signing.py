"""The signature hash that goes with a signing key."""

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certmint.pki.keys import PrivateKey


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """Ed25519 hashes internally; P-384 pairs with SHA-384; everything else with SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()
