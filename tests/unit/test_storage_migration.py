"""planning.storage: when a CRD's objects may and must be moved to the storage version, and how the
writes that move them are paced."""

from typing import Any

import pytest

from certmint.api.crd import RESOURCES, custom_resource_definition
from certmint.api.kinds import CERTIFICATES, DEPRECATED_VERSIONS, VERSION
from certmint.planning.storage import check_storage, next_write_at

OLD = DEPRECATED_VERSIONS[0]


def crd(storage: str, stored_versions: list[str], generation: int = 3) -> dict[str, Any]:
    """The working tree's Certificate CRD with `storage` as its storage version, as the API server
    serves it."""
    body = custom_resource_definition(RESOURCES[0])
    for version in body["spec"]["versions"]:
        version["storage"] = version["name"] == storage
    body["metadata"]["generation"] = generation
    body["status"] = {"storedVersions": stored_versions}
    return body


def test_a_missing_crd_is_refused() -> None:
    check = check_storage(CERTIFICATES, None)
    assert (
        check.refusal
        == "CustomResourceDefinition certificates.certmint.dev not found: install certmint's CRDs first"
    )
    assert not check.needed


def test_crds_not_yet_upgraded_are_refused() -> None:
    check = check_storage(CERTIFICATES, crd(OLD, [OLD]))
    assert f"stores {OLD}, not {VERSION}" in check.refusal
    assert "apply this release's CRDs" in check.refusal
    assert check.stored_versions == (OLD,)
    assert not check.needed


@pytest.mark.parametrize("stored", [[OLD, VERSION], [VERSION, OLD], [OLD]])
def test_an_upgraded_crd_with_another_stored_version_needs_the_migration(stored: list[str]) -> None:
    check = check_storage(CERTIFICATES, crd(VERSION, stored, generation=7))
    assert check.refusal == ""
    assert check.needed
    assert check.stored_versions == tuple(stored)
    assert check.generation == 7


def test_an_upgraded_crd_that_stores_only_the_storage_version_needs_nothing() -> None:
    check = check_storage(CERTIFICATES, crd(VERSION, [VERSION]))
    assert check.refusal == ""
    assert not check.needed


@pytest.mark.parametrize(
    "mangled",
    [
        {"spec": "not a spec"},
        {"spec": {"versions": None}},
        {"spec": {"versions": ["v1"]}},
        {"spec": {"versions": [{"name": VERSION, "storage": "true"}]}},
        {"spec": {"versions": [{"name": VERSION, "storage": True}, {"name": OLD, "storage": True}]}},
    ],
)
def test_a_crd_without_exactly_one_storage_version_of_v1_is_refused(mangled: dict[str, Any]) -> None:
    check = check_storage(CERTIFICATES, {**crd(VERSION, [OLD, VERSION]), **mangled})
    assert check.refusal
    assert not check.needed


def test_the_first_write_goes_at_once() -> None:
    assert next_write_at(None, 100.0, 50.0) == 100.0


def test_writes_are_spaced_by_the_rate() -> None:
    at, now = None, 0.0
    times = []
    for _ in range(5):
        at = next_write_at(at, now, 4.0)
        times.append(at)
        now += 0.01  # each write answered at once: the pacing alone spaces them
    assert times == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_a_late_write_earns_no_burst() -> None:
    """The API server was slow for a minute: the next write waits its interval from now on, not zero."""
    first = next_write_at(None, 0.0, 10.0)
    late = next_write_at(first, 60.0, 10.0)
    assert late == 60.0
    assert next_write_at(late, 60.0, 10.0) == pytest.approx(60.1)
