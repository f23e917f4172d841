"""Trust bundle changes: which CAs entered or left, described for the TrustChanged event."""

from certmint.pki import certificates_to_pem
from certmint.planning.bundles.targets import describe_trust_change, trust_change
from tests.unit.planning_fixtures import make_ca


def test_entered_and_left_cas_are_named_with_fingerprints() -> None:
    old, kept, new = make_ca("old CA"), make_ca("kept CA"), make_ca("new CA")
    published = certificates_to_pem([old.certificate, kept.certificate]).decode()
    change = trust_change([published, published], [kept.certificate, new.certificate])
    assert change.added == (new.certificate,)
    assert change.removed == (old.certificate,)
    message = describe_trust_change(change)
    assert message.startswith("trusted now: CN=new CA (sha256 ")
    assert "; no longer trusted: CN=old CA (sha256 " in message
    assert "kept CA" not in message


def test_same_content_first_publication_and_unreadable_copies_are_no_change() -> None:
    ca = make_ca("only CA")
    pem = certificates_to_pem([ca.certificate]).decode()
    assert not trust_change([pem], [ca.certificate])
    assert not trust_change([], [ca.certificate]), "a first publication alters nobody's trust"
    assert not trust_change(["not PEM"], [ca.certificate])
    change = trust_change(["not PEM", pem], [])
    assert change.removed == (ca.certificate,)
    assert describe_trust_change(change).startswith("no longer trusted: CN=only CA")
