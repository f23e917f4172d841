"""The one error type of the PKI layer: precise, user-facing, with a machine reason.

The reasons are listed here (PKI is the bottom layer); `certmint.planning.reasons` re-exports them
next to every other reason certmint reports."""

from typing import Final

INVALID_REQUEST: Final = "InvalidRequest"
INVALID_CERTIFICATE: Final = "InvalidCertificate"
INVALID_KEY: Final = "InvalidKey"
INVALID_CRL: Final = "InvalidCRL"
NOT_A_CA: Final = "NotACA"
KEY_MISMATCH: Final = "KeyMismatch"
CA_EXPIRED: Final = "CAExpired"
VERIFICATION_FAILED: Final = "VerificationFailed"
TOO_MANY_NAMES: Final = "TooManyNames"
"""A request with more names of one kind than MAX_NAMES_PER_KIND: refused before any is validated."""
REQUEST_TOO_LARGE: Final = "RequestTooLarge"
"""A certificate signing request over MAX_REQUEST_BYTES: refused before it is parsed."""
TOO_MANY_PEM_BLOCKS: Final = "TooManyPEMBlocks"
"""PEM data with more blocks than MAX_PEM_BLOCKS: refused before any block is decoded."""
INVALID_SIGNATURE: Final = "InvalidSignature"
"""A certificate request not signed by the key it carries: its sender does not hold that key."""


class PKIError(ValueError):
    """`reason` is CamelCase and lands in Kubernetes conditions; `message` is for humans."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def first_line(error: BaseException) -> str:
    """The first line of a library's error message, which is the part worth showing."""
    return (str(error).splitlines() or [type(error).__name__])[0]
