"""Helpers for end-to-end tests: waiting on the real API server, running the operator process."""

import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

import devcluster.operator
from certmint.api.kinds import GROUP, READY, VERSION, by_plural
from devcluster import ControlPlane
from tests.e2e.hygiene import LOG_PATHS

T = TypeVar("T")


class Stored(Protocol):
    """Any object of the kubernetes client's models (V1Secret, V1ConfigMap, ...)."""

    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


def json_object(answer: object) -> dict[str, Any]:
    """The custom objects API answers with the object's JSON, which the client types as `object`."""
    assert isinstance(answer, dict), f"expected a JSON object, got {answer!r}"
    return answer


def metadata_of(stored: Stored) -> client.V1ObjectMeta:
    """An object read from the API server always carries metadata; the client's models make it optional."""
    assert stored.metadata is not None, f"{type(stored).__name__} read without metadata"
    return stored.metadata


def name_of(stored: Stored) -> str:
    """An object read from the API server always has a name (generateName is resolved on create)."""
    name = metadata_of(stored).name
    assert name is not None, f"{type(stored).__name__} read without a name"
    return name


def wait_for(
    predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Polls until the predicate returns something truthy; fails the test with `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}; last value: {last!r}")


@dataclass
class Cluster:
    plane: ControlPlane
    api: client.ApiClient
    version: str = VERSION
    """The certmint API version `get` and the conditions read: the upgrade test starts from a
    release whose CRDs serve only an older one."""

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def apply(self, manifest: dict[str, Any] | str) -> str:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.plane.kubectl("apply", "--server-side", "-f", "-", input_text=text)

    def apply_rejected(self, manifest: dict[str, Any]) -> str:
        """Applies a manifest the API server must refuse; returns its error message."""
        output = self.plane.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(manifest), check=False)
        assert "created" not in output, f"accepted: {output}"
        assert "configured" not in output, f"accepted: {output}"
        return output

    def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            if namespace:
                found = self.custom.get_namespaced_custom_object(GROUP, self.version, namespace, plural, name)
            else:
                found = self.custom.get_cluster_custom_object(GROUP, self.version, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return json_object(found)

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    def condition(
        self, plural: str, namespace: str | None, name: str, type_: str = READY
    ) -> dict[str, Any] | None:
        found = self.get(plural, namespace, name)
        for cond in ((found or {}).get("status") or {}).get("conditions", []):
            if cond["type"] == type_:
                result: dict[str, Any] = cond
                return result
        return None

    def wait_condition(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        status: str,
        reason: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Ready for Issuers and Certificates, Synced for TrustBundles."""
        condition_type = by_plural(plural).condition

        def matches() -> dict[str, Any] | None:
            cond = self.condition(plural, namespace, name, condition_type)
            if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
                return cond
            return None

        what = f"{plural} {namespace}/{name} {condition_type}={status} reason={reason}"
        return wait_for(matches, timeout, what=what)

    def events(self, namespace: str, name: str) -> list[client.CoreV1Event]:
        """Oldest first."""
        found = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        return sorted(
            found.items, key=lambda event: (event.first_timestamp, event.metadata.creation_timestamp)
        )


def grant_role(cluster: Cluster, namespace: str, account: str, rules: list[dict[str, Any]]) -> None:
    """A ServiceAccount `account` of `namespace` bound to a Role of its own name holding only `rules`:
    a non-admin user whose every right the test states."""
    cluster.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate({"metadata": {"name": account}})
    )
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(
        namespace, client.V1Role.model_validate({"metadata": {"name": account}, "rules": rules})
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": account},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            }
        ),
    )


def token_client(cluster: Cluster, namespace: str, account: str) -> client.ApiClient:
    """A client that authenticates only with a TokenRequest token of the ServiceAccount."""
    request = cluster.core.create_namespaced_service_account_token(
        account,
        namespace,
        client.AuthenticationV1TokenRequest.model_validate({"spec": {"expirationSeconds": 3600}}),
    )
    assert request.status is not None, "a granted TokenRequest carries its token"
    assert request.status.token, "a granted TokenRequest carries its token"
    admin = cluster.api.configuration
    configuration = client.Configuration()
    configuration.host = admin.host
    configuration.ssl_ca_cert = admin.ssl_ca_cert
    configuration.api_key = {"authorization": request.status.token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


def cluster_admin_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> None:
    """A kubeconfig at `path` with a token of a ServiceAccount `account` of `namespace` bound to
    cluster-admin: an operator that may write anything, whose requests an audit log tells from the
    test's own."""
    core, rbac = cluster.core, client.RbacAuthorizationV1Api(cluster.api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate({"metadata": {"name": account}})
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding.model_validate(
            {
                "metadata": {"name": account},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            }
        )
    )
    request = core.create_namespaced_service_account_token(
        account,
        namespace,
        client.AuthenticationV1TokenRequest.model_validate({"spec": {"expirationSeconds": 7200}}),
    )
    assert request.status is not None, "a granted TokenRequest carries its token"
    admin = yaml.safe_load(cluster.plane.kubeconfig.read_text())
    admin["users"] = [{"name": account, "user": {"token": request.status.token}}]
    admin["contexts"][0]["context"]["user"] = account
    path.write_text(yaml.safe_dump(admin))


class OperatorProcess(devcluster.operator.OperatorProcess):
    """The operator process of devcluster, its log searched by the secrets hygiene test."""

    def __init__(self, plane: ControlPlane, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(plane, log_path, extra_env)
        if log_path not in LOG_PATHS:
            LOG_PATHS.append(log_path)

    def wait_reconciled(self, at_least: float, kind: str = "Certificate", timeout: float = 60) -> None:
        """The positive signal before asserting that something did not happen: this process has
        finished at least that many reconciles of that kind, and nothing is queued or in work."""
        wait_for(
            lambda: self.settled(at_least, kind),
            timeout,
            what=f"{at_least:.0f} {kind} reconciles and an idle queue",
        )


def certmint(
    cluster: Cluster, *args: str, timeout: float = 60, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The `certmint` CLI as a user runs it, against the test cluster (as its admin, unless
    `kubeconfig` says who)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "certmint.cli.main",
            "--kubeconfig",
            str(kubeconfig or cluster.plane.kubeconfig),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": ""},
    )
