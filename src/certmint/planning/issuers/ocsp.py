"""OCSP as decisions: the delegated signers an issuer keeps in its CA Secret, and the responder that
answers from the issuer's published CRLs with cached, signed responses.

Every CA the issuer holds a key for (current, next, previous: the CRL signers) gets one delegated
signer, stored next to the CRLs (`ocsp.crt`, `ocsp.key`) and replaced at two thirds of its life or
when its CA goes. The responder's answers are derived from the very CRLs the issuer published, so
CRL and OCSP never disagree. A response is signed at most once per certificate per half response
validity; every other request for it is a dictionary lookup.
"""

import itertools
import re
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from certmint.pki import (
    CertificateAuthority,
    PKIError,
    certificates_to_pem,
    encode_private_key_pem,
    load_certificates_pem,
    load_crls_pem,
    load_private_key_pem,
)
from certmint.pki.crl import MAX_SERIAL, RevocationReason, reason_of
from certmint.pki.ocsp import (
    CertID,
    CertStatus,
    MalformedRequest,
    OCSPSigner,
    Refusal,
    Revocation,
    issue_ocsp_signer,
    issuer_hashes,
    parse_request,
    refusal,
    sign_response,
    signer_serves,
)
from certmint.planning.issuers.revocation import crl_of

SIGNER_CERTS_KEY: Final = "ocsp.crt"
SIGNER_KEYS_KEY: Final = "ocsp.key"
"""In the CA Secret: the delegated signers' keys. Never the CA key, never anywhere else."""
SIGNER_LIFETIME: Final = timedelta(days=7)
"""Short: with id-pkix-ocsp-nocheck nobody checks a signer's revocation, its expiry bounds a leak."""
SIGNER_RENEW_AT: Final = 2 / 3
CACHE_ENTRIES: Final = 32_768
"""Signed responses kept for the whole operator, all issuers together (about 1 KiB each, so about
32 MiB at most): the least recently used go first, whichever issuer they answered for. Per issuer,
anyone asking random serials of each issuer with an OCSP URL would fill one such cache per issuer."""
SIGNATURES_PER_SECOND: Final = 200.0
"""Cache misses signed per second and issuer; beyond that a miss gets tryLater, which costs nothing."""
_PRIVATE_KEY_BLOCK = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S
)


def load_signers(data: Mapping[str, bytes]) -> tuple[OCSPSigner, ...]:
    """The stored signers; unreadable or mismatched ones are dropped (and simply issued again)."""
    certificates_pem, keys_pem = data.get(SIGNER_CERTS_KEY), data.get(SIGNER_KEYS_KEY)
    if not certificates_pem or not keys_pem:
        return ()
    try:
        certificates = load_certificates_pem(certificates_pem)
        keys = [load_private_key_pem(block, validate=False) for block in _PRIVATE_KEY_BLOCK.findall(keys_pem)]
    except PKIError:
        return ()
    if len(certificates) != len(keys):
        return ()
    return tuple(OCSPSigner(certificate, key) for certificate, key in zip(certificates, keys, strict=True))


def dump_signers(signers: Sequence[OCSPSigner]) -> dict[str, bytes]:
    return {
        SIGNER_CERTS_KEY: certificates_to_pem([signer.certificate for signer in signers]),
        SIGNER_KEYS_KEY: b"".join(encode_private_key_pem(signer.private_key) for signer in signers),
    }


def signer_refresh_time(signer: OCSPSigner) -> datetime:
    certificate = signer.certificate
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    return certificate.not_valid_before_utc + lifetime * SIGNER_RENEW_AT


def current_signers(
    cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime
) -> tuple[OCSPSigner | None, ...]:
    """For each CA, a stored signer that serves it and is not yet due for replacement."""
    return tuple(
        next(
            (
                signer
                for signer in stored
                if signer_serves(signer, ca.certificate, now) and now < signer_refresh_time(signer)
            ),
            None,
        )
        for ca in cas
    )


def signers_fresh(cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime) -> bool:
    """Exactly one usable signer per CA, nothing else."""
    found = current_signers(cas, stored, now)
    return len(stored) == len(cas) and all(signer is not None for signer in found)


def refresh_signers(
    cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime
) -> tuple[OCSPSigner, ...]:
    """One signer per CA, in the order of `cas`: the stored one while it is good, else a new one."""
    found = current_signers(cas, stored, now)
    return tuple(
        signer if signer is not None else issue_ocsp_signer(ca, now, SIGNER_LIFETIME)
        for ca, signer in zip(cas, found, strict=True)
    )


def next_signer_refresh(signers: Sequence[OCSPSigner]) -> datetime | None:
    return min((signer_refresh_time(signer) for signer in signers), default=None)


@dataclass(frozen=True)
class Authority:
    """A CA the responder answers for: its delegated signer and its CRL's entries by serial."""

    certificate: x509.Certificate
    signer: OCSPSigner
    revoked: Mapping[int, Revocation]


@dataclass(frozen=True)
class ResponderInputs:
    authorities: tuple[Authority, ...]
    validity: timedelta
    """nextUpdate - thisUpdate of every response; a cached one is re-signed at half of it."""

    def same_as(self, other: "ResponderInputs") -> bool:
        """Equal in everything an answer depends on (keys compare by their certificates)."""
        return _identity(self) == _identity(other)


def _identity(inputs: ResponderInputs) -> tuple[object, ...]:
    return (
        inputs.validity,
        tuple(
            (authority.certificate, authority.signer.certificate, sorted(authority.revoked.items()))
            for authority in inputs.authorities
        ),
    )


def responder_inputs(
    cas: Sequence[CertificateAuthority],
    signers: Sequence[OCSPSigner],
    crl_pem: bytes,
    validity: timedelta,
) -> ResponderInputs:
    """What the responder answers from: `signers` aligned with `cas`, and the CRLs the issuer
    published (a CA without a CRL has nothing revoked)."""
    if validity <= timedelta(0):
        raise ValueError("OCSP response validity must be positive")
    try:
        crls = load_crls_pem(crl_pem)
    except PKIError:
        crls = []
    authorities = []
    for ca, signer in zip(cas, signers, strict=True):
        crl = crl_of(crls, ca)
        revoked = {
            entry.serial_number: Revocation(entry.revocation_date_utc, _reason(entry))
            for entry in (crl if crl is not None else [])
        }
        authorities.append(Authority(ca.certificate, signer, revoked))
    return ResponderInputs(tuple(authorities), validity)


def _reason(entry: x509.RevokedCertificate) -> RevocationReason:
    try:
        return reason_of(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason)
    except x509.ExtensionNotFound:
        return RevocationReason.UNSPECIFIED


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
    previous: OCSPResponder | None, inputs: ResponderInputs, cache: ResponseCache | None = None
) -> OCSPResponder:
    """The previous responder, cache and all, while its inputs are unchanged; a new revocation, CA
    or signer starts an empty cache, so no stale answer survives it. `cache`: the operator's one
    budget of responses, shared by every issuer."""
    if previous is not None and previous.inputs.same_as(inputs):
        return previous
    return OCSPResponder(inputs, cache=cache)
