"""The one error type of the PKI layer: precise, user-facing, with a machine reason."""


class PKIError(ValueError):
    """`reason` is CamelCase and lands in Kubernetes conditions; `message` is for humans."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
