"""Secrets hygiene: everything the e2e suite makes certmint publish, recorded as it happens.

Events, ConfigMaps, TrustBundle Secrets, the status of every certmint object and of every CSR are
watched for the whole session
(namespaces are deleted after each test, and their events with them), CA keys are collected from
the CA Secrets, and every operator log is read at the end. Nothing may carry a PEM private key
marker or a fragment of any CA key.
"""

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from kubernetes import client, watch

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, ISSUERS, TRUST_BUNDLES, VERSION
from certmint.planning.labels import ROLE_CA, ROLE_TRUST_BUNDLE, SECRET_ROLE_LABEL

KEY_FIELDS = ("tls.key", "next.key", "previous.key", "ocsp.key")
MARKER = "PRIVATE KEY"
CSR = "CertificateSigningRequest"
BUNDLE_SECRET = "BundleSecret"
"""A TrustBundle's Secret copy: public CA certificates only, its decoded data searched like a ConfigMap."""
"""Their status.certificate is what certmint writes for a CSR."""
FRAGMENT = 40
"""Characters of base64 key body searched for: long enough never to occur by chance."""

LOG_PATHS: list[Path] = []
"""Every operator log of the session (OperatorProcess registers its own)."""


class Recorder:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.published: list[tuple[str, str]] = []
        """(what, text) of everything seen."""
        self.ca_keys: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        sources: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            ("Event", core.list_event_for_all_namespaces, {}),
            ("ConfigMap", core.list_config_map_for_all_namespaces, {}),
            (
                BUNDLE_SECRET,
                core.list_secret_for_all_namespaces,
                {"label_selector": f"{SECRET_ROLE_LABEL}={ROLE_TRUST_BUNDLE}"},
            ),
            (
                "CASecret",
                core.list_secret_for_all_namespaces,
                {"label_selector": f"{SECRET_ROLE_LABEL}={ROLE_CA}"},
            ),
            *(
                (
                    plural,
                    custom.list_cluster_custom_object,
                    {"group": GROUP, "version": VERSION, "plural": plural},
                )
                for plural in (
                    CERTIFICATES.plural,
                    ISSUERS.plural,
                    CLUSTER_ISSUERS.plural,
                    TRUST_BUNDLES.plural,
                )
            ),
            (CSR, client.CertificatesV1Api(api).list_certificate_signing_request, {}),
        ]
        self._threads = [
            threading.Thread(target=self._follow, args=source, daemon=True, name=f"hygiene-{source[0]}")
            for source in sources
        ]

    def __enter__(self) -> "Recorder":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _follow(self, what: str, lister: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        """Survives API server restarts: a broken watch is started again."""
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(lister, timeout_seconds=30, **kwargs):
                    self._record(what, event["object"])
            except Exception:
                time.sleep(1)

    def _record(self, what: str, item: Any) -> None:
        body = item if isinstance(item, dict) else self.api.sanitize_for_serialization(item)
        with self._lock:
            if what == "CASecret":
                for field in KEY_FIELDS:
                    if field in (body.get("data") or {}):
                        name = f"{body['metadata']['namespace']}/{body['metadata']['name']}/{field}"
                        self.ca_keys[f"{name}#{len(self.ca_keys)}"] = base64.b64decode(body["data"][field])
                return
            if what == BUNDLE_SECRET:
                data = body.get("data") or {}
                decoded = {
                    key: base64.b64decode(value).decode(errors="replace") for key, value in data.items()
                }
                self.published.append((what, json.dumps({**body, "data": decoded})))
                return
            status = body.get("status") or {}
            text = json.dumps(body if what in ("Event", "ConfigMap") else status)
            if what == CSR and status.get("certificate"):
                # The signed chain as PEM text: a key marker would hide in its base64.
                text += base64.b64decode(status["certificate"]).decode(errors="replace")
            self.published.append((what, text))

    def findings(self) -> Iterator[str]:
        """Where key material leaked; empty when nothing did."""
        with self._lock:
            published = list(self.published)
            keys = dict(self.ca_keys)
        published += [
            (f"log {path}", path.read_text(errors="replace")) for path in LOG_PATHS if path.exists()
        ]
        yield from leaks(published, keys)

    def summary(self) -> str:
        with self._lock:
            return f"{len(self.published)} objects and {len(LOG_PATHS)} logs, {len(self.ca_keys)} CA keys"


def leaks(published: list[tuple[str, str]], keys: dict[str, bytes]) -> Iterator[str]:
    fragments = {fragment: name for name, key in keys.items() for fragment in _fragments(key)}
    for what, text in published:
        if MARKER in text:
            yield f"{what} carries a PEM private key marker"
        for fragment, name in fragments.items():
            if fragment in text:
                yield f"{what} carries a fragment of CA key {name}"


def _fragments(key_pem: bytes) -> list[str]:
    """Pieces of the key's base64 body, as they would appear in PEM or in a base64 dump of it. A
    private key's encoding carries its public key too (PKCS#8's publicKey, RSA's modulus), which
    every certificate of that key publishes: a body piece made only of public key bytes is no
    secret, and is left out (its 40 characters decode to 30 bytes of the DER, at a whole group)."""
    body = "".join(line for line in key_pem.decode().splitlines() if not line.startswith("-----"))
    raw = base64.b64encode(key_pem).decode()
    public = _public_key_der(key_pem)
    pieces = [
        piece
        for start in range(0, len(body) - FRAGMENT, FRAGMENT)
        if base64.b64decode(piece := body[start : start + FRAGMENT]) not in public
    ]
    pieces += [raw[start : start + FRAGMENT] for start in range(0, len(raw) - FRAGMENT, FRAGMENT * 4)]
    return pieces


def _public_key_der(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
