"""FakeKube: certmint's real gateway (kube.gateway.Kube) with its requests answered by an in-memory
API server, for the unit tests of the operator.

The in-memory server behaves like kube-apiserver where certmint depends on it, and
tests/kube_contract.py holds it to that (the same tests run on the real API server in e2e):
- server-side apply tracks which field manager (and operation) owns each label, annotation, data
  key and owner reference; a manager's apply removes what it owned and no longer declares, unless
  another manager owns it too; a create or update owns only what it changed; an apply that changes
  nothing writes nothing (same resourceVersion);
- objects carry managedFields (with the time of each manager's last change, from `clock`), on
  reads, on lists and in answers to writes;
- a create of an existing object, and a write carrying a stale resourceVersion, fail with
  ApiException 409; a read, patch or delete of a missing object with ApiException 404;
- an invalid label value, or a kubernetes.io/tls Secret without tls.crt and tls.key, fails with
  ApiException 422;
- lists and watches filter by label selector (k, !k, k=v, k!=v, k in (…), k notin (…),
  comma-separated) and field selector (a.b=v),
  and are served in pages of `limit` with a continue token;
- an update (PUT) replaces an existing object; a delete honours DeleteOptions.preconditions (uid,
  resourceVersion: 409 when they differ);
- certificates.k8s.io/v1beta1 is discovered (clustertrustbundles, podcertificaterequests) unless
  `serves_pod_certificate_api` is False (then every path of it answers 404, as without the gates);
  a ClusterTrustBundle's name follows its signerName as the API server requires (422).
- a PodCertificateRequest's status is terminal: once Issued, Denied or Failed, a status write
  fails with ApiException 422, as does a status with more than one of those conditions.
It does not require namespaces to exist, nor check RBAC, admission or CRD schemas.

Besides the gateway's methods it offers what tests arrange and inspect: `objects` (every object
as served, keyed by (resource plural, namespace or None, name)), `secrets` and `configmaps` (views),
`put_secret` (a user's write), `writes` and `reads` (what certmint asked for) and `events`.
"""

import asyncio
import copy
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from kubernetes.aio.client.exceptions import ApiException

from certmint.kube import podcerts
from certmint.kube.apply import APPLY_PATCH
from certmint.kube.client import USER_AGENT
from certmint.kube.configmaps import ConfigMapObject, configmap_from_body
from certmint.kube.events import ObjectReference
from certmint.kube.gateway import Kube, Query
from certmint.kube.secrets import TLS, SecretObject, encoded, secret_from_body
from certmint.planning import markings

Place: TypeAlias = tuple[str, str | None, str]
"""(resource plural, namespace or None, name)."""
FieldPath: TypeAlias = tuple[str, ...]
Owner: TypeAlias = tuple[str, str]
"""(field manager, operation: Apply or Update)."""

_BETA_CERTIFICATES = "certificates.k8s.io/v1beta1"
_BETA_RESOURCES = [
    {"name": "clustertrustbundles", "namespaced": False, "kind": "ClusterTrustBundle"},
    {"name": "podcertificaterequests", "namespaced": True, "kind": "PodCertificateRequest"},
    {"name": "podcertificaterequests/status", "namespaced": True, "kind": "PodCertificateRequest"},
]
APPLY = "Apply"
UPDATE = "Update"
_UNOWNED_METADATA = frozenset(
    {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"}
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass
class FakeClock:
    now: datetime = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass(frozen=True)
class Event:
    about: ObjectReference
    kind: str
    reason: str
    message: str


@dataclass
class FakeKube(Kube):
    clock: Callable[[], datetime] = field(default_factory=FakeClock)
    objects: dict[Place, dict[str, Any]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    """Every write certmint made, as "verb kind namespace/name"."""
    reads: list[str] = field(default_factory=list)
    owners: dict[Place, dict[FieldPath, set[Owner]]] = field(default_factory=dict)
    """Per object, who owns each field (rendered into the object's managedFields)."""
    change_times: dict[Place, dict[Owner, str]] = field(default_factory=dict)
    _versions: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    history: list[tuple[int, Place, dict[str, Any] | None, dict[str, Any] | None]] = field(
        default_factory=list
    )
    """Every change, for watches: (resourceVersion, place, object before or None, after or None)."""
    compacted: int = 0
    """Watches from a resourceVersion below this one are answered 410 (as after etcd's compaction)."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    fence: Callable[[], None] | None = None
    serves_pod_certificate_api: bool = True
    """Whether certificates.k8s.io/v1beta1 (PodCertificateRequests, ClusterTrustBundles) is served, as
    with both feature gates on; False is a cluster without them (404 on every path of that API)."""

    # What tests arrange and inspect.

    @property
    def secrets(self) -> dict[tuple[str, str], SecretObject]:
        return {place: secret_from_body(body) for place, body in self._namespaced("secrets")}

    @property
    def configmaps(self) -> dict[tuple[str, str], ConfigMapObject]:
        return {place: configmap_from_body(body) for place, body in self._namespaced("configmaps")}

    def _namespaced(self, kind: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        """((namespace, name), object) of each object of that kind."""
        return [
            ((namespace or "", name), body)
            for (resource, namespace, name), body in self.objects.items()
            if resource == kind
        ]

    @property
    def events(self) -> list[Event]:
        return [
            Event(
                ObjectReference(
                    body["involvedObject"]["kind"],
                    body["involvedObject"]["name"],
                    body["involvedObject"]["namespace"],
                    body["involvedObject"]["uid"],
                    body["involvedObject"]["apiVersion"],
                ),
                body["type"],
                body["reason"],
                body["message"],
            )
            for (resource, _, _), body in self.objects.items()
            if resource == "events"
        ]

    def put_secret(self, secret: SecretObject, manager: str = "kubectl") -> None:
        """Creates or replaces the Secret as `manager` would with an update (its owner references
        given by uid only)."""
        metadata: dict[str, Any] = {
            "name": secret.name,
            "namespace": secret.namespace,
            "labels": dict(secret.labels),
            "annotations": dict(secret.annotations),
        }
        if secret.owner_uids:
            metadata["ownerReferences"] = [{"uid": uid} for uid in sorted(secret.owner_uids)]
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": secret.type}
        body["data"] = encoded(secret.data)
        self._write(("secrets", secret.namespace, secret.name), body, (manager, UPDATE))

    def take_secret(self, namespace: str, name: str) -> SecretObject:
        """Deletes the Secret (as a user would) and returns it as it was."""
        self.owners.pop(("secrets", namespace, name), None)
        taken = self.objects.pop(("secrets", namespace, name))
        self._record(("secrets", namespace, name), taken, None)
        return secret_from_body(taken)

    def compact(self) -> None:
        """Forgets the history so far: a watch from an older resourceVersion is answered 410."""
        self.compacted = next(self._versions)

    # The API server.

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: str | dict[str, Any] | None = None,
        query: Query | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        self.guard(method)
        if path.strip("/").startswith(f"apis/{_BETA_CERTIFICATES}"):
            if not self.serves_pod_certificate_api:
                raise _error(404, "NotFound", "the server could not find the requested resource")
            if path.strip("/") == f"apis/{_BETA_CERTIFICATES}" and method == "GET":
                self.reads.append("discover certificates.k8s.io/v1beta1")
                return {
                    "kind": "APIResourceList",
                    "groupVersion": _BETA_CERTIFICATES,
                    "resources": _BETA_RESOURCES,
                }
        resource, namespace, name, subresource = _parse(path)
        place = (resource, namespace, name)
        parameters = dict(query or [])
        sent = json.loads(body) if isinstance(body, str) else copy.deepcopy(body or {})
        if method == "GET" and name:
            self.reads.append(_describe("get", place))
            return copy.deepcopy(self._existing(place))
        if method == "GET":
            return self._list(resource, namespace, parameters)
        if method == "POST":
            return self._create((resource, namespace, sent["metadata"]["name"]), sent, parameters)
        if method == "PUT":
            return self._update(place, sent, parameters)
        if method == "DELETE":
            _require_preconditions(self._existing(place), sent.get("preconditions") or {})
            self._record(place, self.objects[place], None)
            del self.objects[place]
            self.owners.pop(place, None)
            self.writes.append(_describe("delete", place))
            return {"kind": "Status", "status": "Success"}
        if method == "PATCH" and content_type == APPLY_PATCH:
            return self._apply(place, sent, str(parameters["fieldManager"]))
        if method == "PATCH":
            return self._merge_patch(place, subresource, sent)
        raise AssertionError(f"the fake API server does not serve {method} {path}")

    def _existing(self, place: Place) -> dict[str, Any]:
        found = self.objects.get(place)
        if found is None:
            raise _error(404, "NotFound", f'{place[0]} "{place[2]}" not found')
        return found

    def _list(self, resource: str, namespace: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
        selector = str(parameters.get("labelSelector", ""))
        if selector:
            self.reads.append(f"list {resource} {selector}")
        matching = [
            copy.deepcopy(body)
            for (kind, where, _), body in sorted(self.objects.items(), key=lambda item: str(item[0]))
            if kind == resource
            and (namespace is None or where == namespace)
            and _labels_match(selector, (body.get("metadata") or {}).get("labels") or {})
            and _fields_match(str(parameters.get("fieldSelector", "")), body)
        ]
        start = int(parameters.get("continue") or 0)
        limit = int(parameters.get("limit") or len(matching) or 1)
        following = start + limit if start + limit < len(matching) else 0
        metadata = {"continue": str(following)} if following else {}
        metadata["resourceVersion"] = str(self._last_version())
        return {"kind": "List", "metadata": metadata, "items": matching[start : start + limit]}

    def _create(self, place: Place, sent: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        if place in self.objects:
            raise _error(409, "AlreadyExists", f'{place[0]} "{place[2]}" already exists')
        if place[0] == "namespaces":  # as the API server labels every namespace
            labels = sent["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = place[2]
        written = self._write(place, sent, (str(parameters.get("fieldManager", USER_AGENT)), UPDATE))
        self.writes.append(_describe("create", place))
        return written

    def _update(self, place: Place, sent: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        """A replace (PUT): the object must exist; a resourceVersion sent must be the current one."""
        old = self._existing(place)
        _require_version(old, sent)
        written = self._write(place, sent, (str(parameters.get("fieldManager", USER_AGENT)), UPDATE))
        self.writes.append(_describe("update", place))
        return written

    def _apply(self, place: Place, sent: dict[str, Any], manager: str) -> dict[str, Any]:
        """Server-side apply, conflicts forced."""
        old = self.objects.get(place)
        _require_version(old, sent)
        owner = (manager, APPLY)
        declared = _fields(sent)
        values = _fields(old or {})
        owners = {path: set(holders) for path, holders in self.owners.get(place, {}).items()}
        for path, holders in owners.items():
            if owner in holders and path not in declared:
                holders.discard(owner)
                if not holders:
                    del values[path]
        for path, value in declared.items():
            kept = owners.get(path, set()) if values.get(path) == value else set()
            owners[path] = kept | {owner}
            values[path] = value
        written = self._store(place, _body(sent, old, values), owners, owner)
        self.writes.append(_describe_apply(place, manager))
        return written

    def _merge_patch(self, place: Place, subresource: str, sent: dict[str, Any]) -> dict[str, Any]:
        old = self._existing(place)
        _require_version(old, sent)
        patched = copy.deepcopy(old)
        if subresource:
            sent = {key: value for key, value in sent.items() if key == "status"}
        if place[0] == podcerts.PLURAL and subresource == "status":
            _require_pcr_status_change(old, sent.get("status") or {})
        _merge(patched, sent)
        written = self._write(place, patched, (USER_AGENT, UPDATE))
        self.writes.append(_describe_subresource(place, subresource, sent))
        return written

    def _write(self, place: Place, new: dict[str, Any], owner: Owner) -> dict[str, Any]:
        """A create or update by `owner`: it owns what it changed, others keep what it did not."""
        old = self.objects.get(place)
        before = _fields(old or {})
        owners = {}
        for path, value in _fields(new).items():
            unchanged = path in before and before[path] == value
            owners[path] = set(self.owners.get(place, {}).get(path, set())) if unchanged else {owner}
        return self._store(place, new, owners, owner)

    def _store(
        self, place: Place, new: dict[str, Any], owners: dict[FieldPath, set[Owner]], owner: Owner
    ) -> dict[str, Any]:
        old = self.objects.get(place)
        owners = {path: holders for path, holders in owners.items() if holders}
        if old is not None and _content(old) == _content(new) and owners == self.owners.get(place, {}):
            return copy.deepcopy(old)  # nothing changed: nothing written
        metadata = new.setdefault("metadata", {})
        old_metadata = (old or {}).get("metadata") or {}
        metadata["name"], metadata["resourceVersion"] = place[2], str(next(self._versions))
        if place[1] is not None:
            metadata["namespace"] = place[1]
        metadata["uid"] = old_metadata.get("uid") or f"uid-{place[0]}-{place[1]}-{place[2]}"
        metadata["creationTimestamp"] = old_metadata.get("creationTimestamp") or _stamp(self.clock())
        _validate(new)
        times = self.change_times.setdefault(place, {})
        times[owner] = _stamp(self.clock())
        self.owners[place] = owners
        metadata["managedFields"] = _managed_fields(owners, times)
        if not metadata["managedFields"]:
            del metadata["managedFields"]
        self._record(place, old, new)
        self.objects[place] = new
        return copy.deepcopy(new)

    def _last_version(self) -> int:
        return max(self.history[-1][0] if self.history else 0, self.compacted)

    def _record(self, place: Place, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        version = int(after["metadata"]["resourceVersion"]) if after is not None else next(self._versions)
        self.history.append((version, place, copy.deepcopy(before), copy.deepcopy(after)))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def watch_events(
        self,
        path: str,
        query: Query,
        resource_version: str,
        timeout_seconds: int,
        client_timeout_seconds: float = 0,
    ) -> AsyncIterator[dict[str, Any]]:
        """As the API server: the changes after `resource_version` seen through the label selector (an
        object whose labels stop matching is DELETED, one that starts to match ADDED); 410 from a
        version older than `compacted`; the stream ends after `timeout_seconds` without a change."""
        resource, namespace, _, _ = _parse(path)
        selector = str(dict(query).get("labelSelector", ""))
        self.reads.append(f"watch {resource} {selector}".strip())
        since = int(resource_version or self._last_version())
        if since < self.compacted:
            yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
            return
        while True:
            for version, place, before, after in list(self.history):
                if version <= since:
                    continue
                since = version
                if place[0] != resource or (namespace is not None and place[1] != namespace):
                    continue
                event = _watch_event(selector, before, after, version)
                if event is not None:
                    yield event
            if self._last_version() > since:
                continue  # written while the consumer held the last event
            try:
                async with asyncio.timeout(timeout_seconds):
                    await self._changed.wait()
            except TimeoutError:
                return


def _watch_event(
    selector: str, before: dict[str, Any] | None, after: dict[str, Any] | None, version: int
) -> dict[str, Any] | None:
    def matches(body: dict[str, Any] | None) -> bool:
        return body is not None and _labels_match(selector, (body.get("metadata") or {}).get("labels") or {})

    was, now = matches(before), matches(after)
    if now:
        return {"type": "MODIFIED" if was else "ADDED", "object": copy.deepcopy(after)}
    if was:
        gone = copy.deepcopy(after if after is not None else before)
        assert gone is not None
        gone["metadata"]["resourceVersion"] = str(version)
        return {"type": "DELETED", "object": gone}
    return None


def _parse(path: str) -> tuple[str, str | None, str, str]:
    """(resource, namespace, name, subresource) of an API path."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace: str | None = rest[1]
        rest = rest[2:]
    else:
        namespace = None
    rest += ["", ""]
    return rest[0], namespace, rest[1], rest[2]


def _describe(verb: str, place: Place) -> str:
    resource, namespace, name = place
    if resource == "clustertrustbundles":
        return f"{verb} clustertrustbundle {name}"
    singular = {"secrets": "secret", "configmaps": "configmap"}.get(resource, resource)
    return f"{verb} {singular} {namespace}/{name}"


def _require_preconditions(old: dict[str, Any], preconditions: dict[str, Any]) -> None:
    """DeleteOptions.preconditions: the uid and resourceVersion named must be the object's (409)."""
    metadata = old.get("metadata") or {}
    for key in ("uid", "resourceVersion"):
        wanted = preconditions.get(key)
        if wanted and metadata.get(key) != wanted:
            raise _error(409, "Conflict", f"Precondition failed: {key} in precondition: {wanted}")


def _describe_apply(place: Place, manager: str) -> str:
    """What certmint meant by an apply, told by its field manager: an object certmint writes in
    full, a marking on someone else's Secret, or some data keys of its own."""
    _, namespace, name = place
    if manager == markings.WATCH_FIELD_MANAGER:
        return f"mark secret {namespace}/{name}"
    if manager != markings.FIELD_MANAGER:
        return f"apply secret-data {namespace}/{name}"
    return _describe("apply", place)


def _describe_subresource(place: Place, subresource: str, sent: dict[str, Any]) -> str:
    resource, namespace, name = place
    if not subresource:
        return f"patch {resource} {namespace}/{name}"
    if resource == podcerts.PLURAL:
        kinds = [c["type"] for c in (sent.get("status") or {}).get("conditions") or []]
        return f"status pcr {namespace}/{name} " + ",".join(kinds)
    if resource != "certificatesigningrequests":
        return f"status {resource} {namespace}/{name}"
    status = sent.get("status") or {}
    if "certificate" in status:
        return f"sign csr {name}"
    return f"{subresource} csr {name} " + ",".join(c["type"] for c in status.get("conditions") or [])


_PCR_FINAL = frozenset({"Issued", "Denied", "Failed"})


def _require_pcr_status_change(old: dict[str, Any], status: dict[str, Any]) -> None:
    """The API server's rules certmint could break: a terminal status is immutable; at most one
    terminal condition; Denied and Failed carry nothing but conditions."""
    before = {c.get("type") for c in (old.get("status") or {}).get("conditions") or []}
    if before & _PCR_FINAL:
        raise _error(
            422, "Invalid", "status: immutable after PodCertificateRequest is issued, denied, or failed"
        )
    after = [c.get("type") for c in status.get("conditions") or [] if c.get("type") in _PCR_FINAL]
    if len(after) > 1:
        raise _error(
            422, "Invalid", 'There may be at most one condition with type "Issued", "Denied", or "Failed"'
        )
    if after and after[0] != "Issued" and set(status) - {"conditions"}:
        raise _error(422, "Invalid", "non-condition status fields must be empty when denying or failing")


def _require_version(old: dict[str, Any] | None, sent: dict[str, Any]) -> None:
    """A write that names a resourceVersion is made only to that version of the object (an apply
    to an object that is gone creates it all the same, as the API server does)."""
    wanted = (sent.get("metadata") or {}).get("resourceVersion")
    if not wanted or old is None:
        return
    if old["metadata"].get("resourceVersion") != wanted:
        raise _error(
            409, "Conflict", "the object has been modified; please apply your changes to the latest version"
        )


def _validate(body: dict[str, Any]) -> None:
    """The API server's checks that certmint's writes could fail."""
    for key, value in ((body.get("metadata") or {}).get("labels") or {}).items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise _error(422, "Invalid", f"metadata.labels: Invalid value: {value!r} (label {key})")
    if body.get("kind") == "ClusterTrustBundle":
        _validate_cluster_trust_bundle(body)
    if body.get("kind") == "Secret" and body.get("type") == TLS:
        for key in ("tls.crt", "tls.key"):
            if key not in (body.get("data") or {}):
                raise _error(422, "Invalid", f"data[{key}]: Required value")


def _validate_cluster_trust_bundle(body: dict[str, Any]) -> None:
    """As pkg/apis/certificates/validation: with a signerName the name is
    `<signerName, / as :>:<suffix>`; without one it holds no ':'; the bundle holds PEM CERTIFICATEs."""
    name = (body.get("metadata") or {}).get("name", "")
    spec = body.get("spec") or {}
    signer = spec.get("signerName") or ""
    if signer and not (name.startswith(signer.replace("/", ":") + ":") and len(name) > len(signer) + 1):
        raise _error(
            422, "Invalid", f"metadata.name: Invalid value: {name!r}: must begin with the signer name"
        )
    if not signer and ":" in name:
        raise _error(422, "Invalid", f"metadata.name: Invalid value: {name!r}: must not contain ':'")
    if "-----BEGIN CERTIFICATE-----" not in str(spec.get("trustBundle") or ""):
        raise _error(422, "Invalid", "spec.trustBundle: Invalid value: must hold at least one certificate")


def _error(status: int, reason: str, message: str) -> ApiException:
    body = {"kind": "Status", "status": "Failure", "reason": reason, "message": message, "code": status}
    return ApiException(status=status, reason=reason, body=json.dumps(body))


def _fields(body: dict[str, Any]) -> dict[FieldPath, Any]:
    """Every field an owner can own, with its value: map entries one by one, owner references by
    uid, anything else (a list, a scalar) whole."""
    found: dict[FieldPath, Any] = {}

    def walk(value: Any, path: FieldPath) -> None:
        if path == ("metadata", "ownerReferences"):
            for ref in value or []:
                found[(*path, f'k:{{"uid":"{ref.get("uid", "")}"}}')] = ref
        elif isinstance(value, dict):  # an empty map declares nothing
            for key, inner in value.items():
                if path == ("metadata",) and key in _UNOWNED_METADATA:
                    continue
                if path or key not in ("apiVersion", "kind"):
                    walk(inner, (*path, key))
        elif path:
            found[path] = value

    walk(body, ())
    return found


def _body(sent: dict[str, Any], old: dict[str, Any] | None, values: dict[FieldPath, Any]) -> dict[str, Any]:
    """The object made of `values` (its identity is added when it is stored)."""
    source = old or sent
    built: dict[str, Any] = {
        "apiVersion": source.get("apiVersion"),
        "kind": source.get("kind"),
        "metadata": {},
    }
    for path, value in values.items():
        if path[:2] == ("metadata", "ownerReferences"):
            built["metadata"].setdefault("ownerReferences", []).append(value)
            continue
        target = built
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    return built


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """What an object holds, without what the server keeps about it."""
    metadata = {
        key: value for key, value in (body.get("metadata") or {}).items() if key not in _UNOWNED_METADATA
    }
    return {**body, "metadata": metadata}


def _managed_fields(owners: dict[FieldPath, set[Owner]], times: dict[Owner, str]) -> list[dict[str, Any]]:
    entries: dict[Owner, dict[str, Any]] = {}
    for path, holders in owners.items():
        for holder in holders:
            target = entries.setdefault(holder, {})
            for key in path:
                target = target.setdefault(key if key.startswith("k:") else f"f:{key}", {})
    return [
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": "v1",
            "time": times.get((manager, operation), ""),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
        for (manager, operation), fields in sorted(entries.items())
    ]


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386): maps merged, null removes, anything else replaced."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _labels_match(selector: str, labels: dict[str, str]) -> bool:
    return all(_term_matches(term.strip(), labels) for term in _terms(selector) if term.strip())


def _terms(selector: str) -> list[str]:
    """The comma-separated terms of a selector; a set's values (in parentheses) stay in their term."""
    terms, depth, current = [], 0, ""
    for character in selector:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += character
    return [*terms, current]


def _term_matches(term: str, labels: dict[str, str]) -> bool:
    found = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term)
    if found:
        key, operator, values = found.groups()
        inside = labels.get(key) in {value.strip() for value in values.split(",")}
        return inside if operator == "in" else not inside
    if "!=" in term:
        key, value = term.split("!=", 1)
        return labels.get(key) != value
    if "=" in term:
        key, value = term.replace("==", "=").split("=", 1)
        return labels.get(key) == value
    if term.startswith("!"):
        return term[1:] not in labels
    return term in labels


def _fields_match(selector: str, body: dict[str, Any]) -> bool:
    for term in filter(None, selector.split(",")):
        path, value = term.split("=", 1)
        found: Any = body
        for key in path.split("."):
            found = found.get(key) if isinstance(found, dict) else None
        if found != value:
            return False
    return True


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
