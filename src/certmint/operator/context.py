"""What a reconciler is given: the API, the settings, the clock and read-only views of the caches.

Reconcilers never change the caches or the queue; they return an Outcome (operator.outcome)."""

import asyncio
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from certmint.kube.gateway import Kube
from certmint.operator.config import OperatorConfig
from certmint.operator.state import Body, Key, Relabel
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.cluster_trust import ClusterTrustBundleObject
from certmint.planning.csrs.signing_request import SigningRequestObject
from certmint.planning.defaults import Defaults
from certmint.planning.issuer_view import IssuerView
from certmint.planning.issuers.rotation import StepTaken
from certmint.planning.podcerts.request import PodCertificateRequestObject
from certmint.planning.shards import WHOLE, Shard

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class StateView(Protocol):
    """The read side of operator.state.State."""

    @property
    def certificates(self) -> Mapping[Key, Body]: ...

    @property
    def issuers(self) -> Mapping[Key, Body]: ...

    @property
    def bundles(self) -> Mapping[Key, Body]: ...

    @property
    def signing_requests(self) -> Mapping[Key, SigningRequestObject]: ...

    @property
    def pod_certificate_requests(self) -> Mapping[Key, PodCertificateRequestObject]: ...

    @property
    def issuer_views(self) -> Mapping[Key, IssuerView]: ...

    @property
    def namespaces(self) -> Mapping[str, dict[str, str]]: ...

    @property
    def terminating(self) -> AbstractSet[str]: ...

    @property
    def secrets(self) -> Mapping[tuple[str, str], SecretView]: ...

    @property
    def planned(self) -> AbstractSet[Key]: ...

    @property
    def unwatched_secrets(self) -> AbstractSet[tuple[str, str]]: ...

    def certificates_for_secret(self, namespace: str, secret_name: str) -> set[Key]: ...

    @property
    def rotation_steps(self) -> Mapping[Key, StepTaken]: ...

    def issued_certificates_for_issuer(self, key: Key) -> list[bytes]: ...

    def defaults_for(self, namespace: str) -> Defaults: ...

    def marked_default_in_scope(self, key: Key) -> tuple[str, ...]: ...

    def default_since(self, key: Key) -> datetime | None: ...

    @property
    def cluster_trust_bundles(self) -> Mapping[str, ClusterTrustBundleObject]: ...

    @property
    def pod_certificate_api(self) -> bool: ...

    @property
    def relabels(self) -> Mapping[Key, Relabel]: ...


@dataclass
class IssuerLocks:
    """Serialises the writers of one issuer's CA Secret: its reconcile and revocations recorded by
    Certificate workers."""

    _locks: dict[Key, asyncio.Lock] = field(default_factory=dict)

    def __call__(self, key: Key) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())


@dataclass
class SignedDurations:
    """Per issuer, the CA serial and the longest duration this replica recorded for it
    (operator.longest_signed): each longer duration is written once."""

    _recorded: dict[Key, tuple[int, timedelta]] = field(default_factory=dict)

    def covers(self, issuer: Key, ca_serial: int, duration: timedelta) -> bool:
        serial, longest = self._recorded.get(issuer, (0, timedelta(0)))
        return serial == ca_serial and duration <= longest

    def remember(self, issuer: Key, ca_serial: int, duration: timedelta) -> None:
        self._recorded[issuer] = (ca_serial, duration)

    def forget(self, issuer: Key) -> None:
        self._recorded.pop(issuer, None)


@dataclass(frozen=True)
class Context:
    kube: Kube
    config: OperatorConfig
    clock: Clock
    state: StateView
    issuer_lock: IssuerLocks
    shard: Shard = WHOLE
    """The buckets this replica serves; whole when it is the only one."""
    signed: SignedDurations = field(default_factory=SignedDurations)
    """The longest leaf this replica recorded per issuer (operator.longest_signed)."""
