from datetime import UTC, datetime, timedelta

import pytest

from certmint.pki import CARequest, CertificateAuthority, create_root_ca

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def root_ca() -> CertificateAuthority:
    return create_root_ca(
        CARequest(common_name="Test Root", duration=timedelta(days=365)), NOW - timedelta(days=1)
    )
