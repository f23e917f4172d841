"""A conditional write that the API server refuses with 409 because the object changed after it was
read: on the contract-tested fake, the refusal is the client's ApiException, so the controller
takes its transient branch (one warning line, a retry with backoff) and the retry succeeds."""

import logging
from dataclasses import replace

import pytest

from certmint.kube.secrets import SecretObject
from certmint.planning.issuers.revocation import REVOKED_KEY, load_revocations
from tests.unit.operator.test_controller import Harness, issued, request_revocation, serial_in


async def test_a_revocation_whose_ca_secret_changed_after_its_read_is_refused_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    key = await issued(harness)
    revoked = serial_in(harness.secret())
    read = harness.kube.read_secret
    raced: list[str] = []

    async def read_then_someone_writes(namespace: str, name: str) -> SecretObject | None:
        found = await read(namespace, name)
        if name == "ca-ca" and found is not None and not raced:
            raced.append(name)  # a user annotates the CA Secret between certmint's read and write
            harness.kube.put_secret(replace(found, annotations={**found.annotations, "team/note": "x"}))
        return found

    harness.kube.read_secret = read_then_someone_writes  # type: ignore[method-assign]
    request_revocation(harness)
    with caplog.at_level(logging.WARNING):
        await harness.step(key)
    assert raced
    unchanged = load_revocations(harness.secret("ca-ca").data.get(REVOKED_KEY))
    assert revoked not in [entry.serial_number for entry in unchanged.entries], (
        "not written over the other write"
    )
    failures = [r for r in caplog.records if "reconciling" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in failures] == [(logging.WARNING, None)], "one line, no traceback"
    assert "API 409" in failures[0].getMessage()
    assert harness.controller.queue.scheduled(key) is not None, "retried with backoff"

    harness.controller.queue.add(key)
    await harness.step(key)
    stored = load_revocations(harness.secret("ca-ca").data[REVOKED_KEY])
    assert [entry.serial_number for entry in stored.entries] == [revoked]
    assert harness.secret("ca-ca").annotations["team/note"] == "x", "the other write stays"
