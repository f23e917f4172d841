"""The OCSP responders: one per issuer with an OCSP URL, answering from the inputs its issuer view
carries (planning.issuer_view.Revoking.ocsp) with cached, signed responses.

The one mutable part of OCSP, so it lives here, held by State: a bounded cache of signed
responses shared by every responder, and each responder's budget of signatures. A response is
signed at most once per certificate per half response validity; every other request for it is a
dictionary lookup.
"""

import itertools
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from certmint.pki.crl import MAX_SERIAL
from certmint.pki.ocsp import (
    CertID,
    CertStatus,
    MalformedRequest,
    Refusal,
    issuer_hashes,
    parse_request,
    refusal,
    sign_response,
)
from certmint.planning.issuer_view import Authority, ResponderInputs

CACHE_ENTRIES: Final = 32_768
"""Signed responses kept for the whole operator, all issuers together (about 1 KiB each, so about
32 MiB at most): the least recently used go first, whichever issuer they answered for. Per issuer,
anyone asking random serials of each issuer with an OCSP URL would fill one such cache per issuer."""
SIGNATURES_PER_SECOND: Final = 200.0
"""Cache misses signed per second and issuer; beyond that a miss gets tryLater, which costs nothing."""


def response_fresh(this_update: datetime, validity: timedelta, now: datetime) -> bool:
    """A cached response is served until half its validity has passed, so every response a client
    gets is still good for at least half of it."""
    return this_update <= now < this_update + validity / 2


@dataclass(frozen=True)
class Answer:
    status: str
    """A CertStatus for a signed response, else the Refusal."""
    body: bytes
    this_update: datetime | None = None
    next_update: datetime | None = None
    signed: bool = False
    """Whether this answer cost a signature (a cache miss)."""


@dataclass(frozen=True)
class _Cached:
    status: CertStatus
    body: bytes
    this_update: datetime
    next_update: datetime


class ResponseCache:
    """Signed OCSP responses of every responder that shares it, in one least-recently-used order
    and one budget of entries. A responder's entries go when the responder does (it is replaced
    on new inputs, or its issuer is gone): the operator keeps no answer nobody can be served."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, CertID], _Cached] = OrderedDict()
        self._owned: dict[int, set[CertID]] = {}
        self._tokens = itertools.count()

    def join(self, responder: object) -> int:
        """A token for a responder's entries, dropped with them when the responder is collected."""
        token = next(self._tokens)
        self._owned[token] = set()
        weakref.finalize(responder, self._forget, token)
        return token

    def get(self, token: int, query: CertID) -> "_Cached | None":
        cached = self._entries.get((token, query))
        if cached is not None:
            self._entries.move_to_end((token, query))
        return cached

    def put(self, token: int, query: CertID, response: "_Cached") -> None:
        self._entries[(token, query)] = response
        self._entries.move_to_end((token, query))
        owned = self._owned.get(token)
        if owned is not None:
            owned.add(query)
        while len(self._entries) > self.max_entries:
            (evicted, evicted_query), _ = self._entries.popitem(last=False)
            self._owned.get(evicted, set()).discard(evicted_query)

    def entries_of(self, token: int) -> int:
        return len(self._owned.get(token, ()))

    def __len__(self) -> int:
        return len(self._entries)

    def _forget(self, token: int) -> None:
        for query in self._owned.pop(token, ()):
            self._entries.pop((token, query), None)


class OCSPResponder:
    """Answers DER requests for one issuer. The one mutable piece: its share of a bounded cache of
    signed responses (one for the whole operator when `cache` is given, its own of `max_entries`
    otherwise) and a budget of signatures; time comes from the caller."""

    def __init__(
        self,
        inputs: ResponderInputs,
        max_entries: int = CACHE_ENTRIES,
        signatures_per_second: float = SIGNATURES_PER_SECOND,
        cache: ResponseCache | None = None,
    ) -> None:
        self.inputs = inputs
        self._by_hash = {
            hashes: authority
            for authority in inputs.authorities
            for hashes in issuer_hashes(authority.certificate)
        }
        self._cache = cache if cache is not None else ResponseCache(max_entries)
        self._token = self._cache.join(self)
        self._rate = signatures_per_second
        self._tokens = signatures_per_second
        self._refilled_at: datetime | None = None

    def answer(self, request_der: bytes, now: datetime) -> Answer:
        query = parse_request(request_der)
        if isinstance(query, MalformedRequest):
            return _refused(Refusal.MALFORMED_REQUEST)
        authority = self._by_hash.get((query.hash_algorithm, query.issuer_name_hash, query.issuer_key_hash))
        if authority is None:
            # RFC 5019 2.2.3: not authoritative for this CA.
            return _refused(Refusal.UNAUTHORIZED)
        cached = self._cache.get(self._token, query)
        if cached is not None and response_fresh(cached.this_update, self.inputs.validity, now):
            return Answer(cached.status, cached.body, cached.this_update, cached.next_update)
        if not self._take_signature(now):
            return _refused(Refusal.TRY_LATER)
        fresh = _sign(query, authority, now.replace(microsecond=0), self.inputs.validity)
        self._cache.put(self._token, query, fresh)
        return Answer(fresh.status, fresh.body, fresh.this_update, fresh.next_update, signed=True)

    def _take_signature(self, now: datetime) -> bool:
        if self._refilled_at is not None and now > self._refilled_at:
            elapsed = (now - self._refilled_at).total_seconds()
            self._tokens = min(self._rate, self._tokens + elapsed * self._rate)
        self._refilled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def _sign(query: CertID, authority: Authority, this_update: datetime, validity: timedelta) -> _Cached:
    revocation = authority.revoked.get(query.serial_number)
    if revocation is not None:
        status = CertStatus.REVOKED
    elif 0 < query.serial_number < MAX_SERIAL:
        status = CertStatus.GOOD
    else:
        status = CertStatus.UNKNOWN  # no CA issues such a serial (RFC 5280 4.1.2.2)
    next_update = this_update + validity
    body = sign_response(query, status, revocation, authority.signer, this_update, next_update)
    return _Cached(status, body, this_update, next_update)


_REFUSAL_BODIES: Final = {reason: refusal(reason) for reason in Refusal}


def _refused(reason: Refusal) -> Answer:
    return Answer(reason.value, _REFUSAL_BODIES[reason])


def reuse_responder(
    previous: OCSPResponder | None,
    inputs: ResponderInputs,
    cache: ResponseCache | None = None,
    signatures_per_second: float = SIGNATURES_PER_SECOND,
) -> OCSPResponder:
    """The previous responder, cache and all, while its inputs are unchanged; a new revocation, CA
    or signer starts an empty cache, so no stale answer survives it. `cache`: the operator's one
    budget of responses, shared by every issuer."""
    if previous is not None and previous.inputs.same_as(inputs):
        return previous
    return OCSPResponder(inputs, cache=cache, signatures_per_second=signatures_per_second)


class Responders:
    """The responder of every issuer, sharing one cache: what State holds."""

    def __init__(
        self, max_entries: int = CACHE_ENTRIES, signatures_per_second: float = SIGNATURES_PER_SECOND
    ) -> None:
        self.cache = ResponseCache(max_entries)
        self._signatures_per_second = signatures_per_second
        self._by_issuer: dict[object, tuple[ResponderInputs, OCSPResponder]] = {}

    def for_issuer(self, issuer: object, inputs: ResponderInputs | None) -> OCSPResponder | None:
        """The issuer's responder for `inputs` (its view's), cache and all while they are unchanged;
        None, and the responder and its cached answers gone, when the issuer answers no OCSP."""
        if inputs is None:
            self._by_issuer.pop(issuer, None)
            return None
        seen = self._by_issuer.get(issuer)
        if seen is not None and seen[0] is inputs:
            return seen[1]
        responder = reuse_responder(
            seen[1] if seen is not None else None, inputs, self.cache, self._signatures_per_second
        )
        self._by_issuer[issuer] = (inputs, responder)
        return responder
