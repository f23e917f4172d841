"""An Issuer's CA: its Secret, its rotation, its revocation lists and OCSP signers."""
