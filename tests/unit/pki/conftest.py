from datetime import timedelta

import pytest

from certmint.pki import CARequest, CertificateAuthority, create_intermediate_ca, create_root_ca
from tests.unit.pki.support import NOW


@pytest.fixture(scope="session")
def root_ca() -> CertificateAuthority:
    return create_root_ca(
        CARequest(common_name="Test Root", duration=timedelta(days=365)), NOW - timedelta(days=1)
    )


@pytest.fixture(scope="session")
def intermediate_ca(root_ca: CertificateAuthority) -> CertificateAuthority:
    return create_intermediate_ca(CARequest("Test Issuing", timedelta(days=90), path_length=0), root_ca, NOW)
