"""Which API failures mean "the namespace is going away" rather than "retry"."""

import json

from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.errors import describe, namespace_gone


def api_error(status: int, body: dict[str, object]) -> ApiException:
    error = ApiException(status=status, reason="x")
    error.body = json.dumps(body)
    return error


def test_terminating_and_vanished_namespaces_are_recognised() -> None:
    terminating = api_error(
        403,
        {
            "message": "namespace t is being terminated",
            "details": {"causes": [{"reason": "NamespaceTerminating"}]},
        },
    )
    vanished = api_error(404, {"message": 'namespaces "t" not found', "details": {"kind": "namespaces"}})
    assert namespace_gone(terminating)
    assert namespace_gone(vanished)
    assert describe(vanished) == 'API 404: namespaces "t" not found'


def test_other_failures_are_retried() -> None:
    assert not namespace_gone(api_error(404, {"details": {"kind": "secrets"}}))
    assert not namespace_gone(api_error(403, {"message": "forbidden"}))
    assert not namespace_gone(api_error(500, {}))
    assert not namespace_gone(ConnectionRefusedError())
    broken = ApiException(status=500, reason="Internal")
    broken.body = "not json"
    assert describe(broken) == "API 500: Internal"
