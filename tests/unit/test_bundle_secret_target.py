"""planning.bundles.secret_target: what a bundle's Secret holds, and where it is written or withdrawn."""

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki import CARequest, create_root_ca, load_certificates_pem
from certmint.planning import labels
from certmint.planning.bundles.secret_target import (
    BundleIdentity,
    PublishedSecret,
    SecretContent,
    plan_secrets,
    secret_annotations,
    secret_content,
    secret_labels,
)
from certmint.planning.contest import DataWriter

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
IDENTITY = BundleIdentity("certmint.dev/v1", "TrustBundle", "shared", "uid-1")
CONTENT = SecretContent({"ca.crt": b"pem"}, "sha256:1")


def ca(name: str) -> x509.Certificate:
    return create_root_ca(CARequest(name, timedelta(days=30)), NOW).certificate


def copy(namespace: str, data: bytes, *writers: DataWriter) -> PublishedSecret:
    return PublishedSecret(namespace, {"ca.crt": data}, {}, writers, f"uid-{namespace}", "7")


def test_the_content_is_the_certificates_re_encoded_under_the_key() -> None:
    content = secret_content("bundle.pem", [ca("one"), ca("two")], "sha256:x")
    assert list(content.data) == ["bundle.pem"]
    names = [c.subject.rfc4514_string() for c in load_certificates_pem(content.data["bundle.pem"])]
    assert names == ["CN=one", "CN=two"]
    assert b"PRIVATE KEY" not in content.data["bundle.pem"]
    assert content.digest == "sha256:x"


def test_the_markings_name_the_bundle() -> None:
    assert secret_labels(IDENTITY) == {
        labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE,
        labels.TRUST_BUNDLE_LABEL: "uid-1",
    }
    assert secret_annotations(IDENTITY, "sha256:1", None) == {
        labels.TRUST_BUNDLE_NAME: "shared",
        labels.BUNDLE_DIGEST: "sha256:1",
    }


def test_missing_and_differing_copies_are_written_and_unwanted_ones_withdrawn() -> None:
    existing = {"same": copy("same", b"pem"), "stale": copy("stale", b"old"), "gone": copy("gone", b"pem")}
    plan = plan_secrets(frozenset({"same", "stale", "new"}), existing, CONTENT, NOW)
    assert plan.targets.write == ("new", "stale")
    assert plan.targets.delete == ("gone",)
    assert not plan.contests
    assert not plan.held


def test_without_a_secret_target_every_copy_is_withdrawn() -> None:
    existing = {"a": copy("a", b"pem"), "b": copy("b", b"pem")}
    plan = plan_secrets(frozenset({"a", "b"}), existing, None, NOW)
    assert (plan.targets.write, plan.targets.delete) == ((), ("a", "b"))


def test_a_copy_another_writer_just_changed_again_is_held_back() -> None:
    ours = DataWriter("certmint", NOW - timedelta(seconds=1), frozenset({"ca.crt"}))
    theirs = DataWriter("gitops", NOW, frozenset({"ca.crt"}))
    existing = {
        "a": PublishedSecret("a", {"ca.crt": b"x"}, {labels.CONTESTED_REPAIRS: "2"}, (ours, theirs), "u", "7")
    }
    plan = plan_secrets(frozenset({"a"}), existing, CONTENT, NOW)
    assert plan.targets.write == ()
    assert plan.held["a"].writer == "gitops"
    assert plan.held["a"].repairs == 3


def test_pem_written_is_parseable_as_served() -> None:
    certificate = ca("one")
    content = secret_content("ca.crt", [certificate], "d")
    assert content.data["ca.crt"] == certificate.public_bytes(serialization.Encoding.PEM)
