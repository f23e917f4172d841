"""After every other e2e test (conftest orders tests marked after_all last, wherever their file
sorts): nothing the suite made certmint publish carries private key material."""

import base64
import json

import pytest

from tests.e2e.hygiene import Recorder, leaks

pytestmark = pytest.mark.after_all


def test_no_event_log_status_or_configmap_carries_key_material(recorder: Recorder) -> None:
    findings = sorted(set(recorder.findings()))
    assert not findings, "\n".join(findings[:20])
    assert recorder.published, recorder.summary()


def test_the_search_finds_a_planted_ca_key(recorder: Recorder) -> None:
    """The check above can fail: a CA key body, with its markers stripped, in PEM or base64, is found."""
    assert recorder.ca_keys, "no CA key was seen during the session"
    name, key = next(iter(recorder.ca_keys.items()))
    body = "".join(line for line in key.decode().splitlines() if "-----" not in line)
    for planted in (body, json.dumps({"data": base64.b64encode(key).decode()})):
        assert list(leaks([("planted", planted)], {name: key}))
