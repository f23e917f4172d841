"""certificates.k8s.io/v1 CertificateSigningRequests: certmint writes only their status (the
certificate, a Failed condition) and their approval (Approved or Denied), never their spec."""

STATUS = "status"
APPROVAL = "approval"
"""The subresources certmint writes."""
LIST_PAGE = 500


def path(name: str = "") -> str:
    """The CSR `name`, or all CSRs."""
    return "/apis/certificates.k8s.io/v1/certificatesigningrequests" + (f"/{name}" if name else "")
