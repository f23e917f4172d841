"""Issue 27 on the fake API: a rotated CA signs only once the bundle that publishes its issuer's
current CA publishes the next one, the Issuer's CAPublished condition naming the bundle meanwhile;
a bundle whose other source fails keeps publishing this issuer's CAs."""

from datetime import timedelta
from typing import Any

from certmint.api.kinds import ISSUERS, TRUST_BUNDLES
from certmint.operator.state import TRUST_BUNDLE, Key
from certmint.pki import load_certificates_pem
from certmint.planning import reasons
from certmint.planning.issuer_view import fingerprint
from tests.e2e.manifests import trust_bundle
from tests.unit.operator.test_controller import ISSUER_KEY, NAMESPACE, Harness, issuer_body

BUNDLE = Key(TRUST_BUNDLE, "", "shared")


def bundle_body() -> dict[str, Any]:
    return trust_bundle(
        "shared",
        [
            {"issuer": {"name": "ca", "namespace": NAMESPACE}},
            {"configMap": {"namespace": "infra", "name": "missing"}},
        ],
        meta={"uid": "uid-shared", "generation": 1, "resourceVersion": "b1"},
        namespaceSelector={"matchLabels": {"team": "a"}},
    )


def issuer_status(harness: Harness) -> dict[str, Any]:
    return harness.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")].get("status", {})


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), None)


def published(harness: Harness) -> set[str]:
    data = harness.kube.configmaps[(NAMESPACE, "shared")].data
    return {fingerprint(c) for c in load_certificates_pem(data["ca.crt"].encode())}


async def test_activation_waits_for_the_bundle_then_goes_ahead() -> None:
    harness = Harness()
    harness.controller.namespace_event(None, {"metadata": {"name": NAMESPACE, "labels": {"team": "a"}}})
    spec = {"selfSigned": {"caDuration": "24h", "rotation": {"propagationDelay": "5s"}}}
    harness.add_issuer(issuer_body(**spec))
    harness.kube.objects[(TRUST_BUNDLES.plural, None, "shared")] = bundle_body()
    harness.controller.trust_bundle_event(None, bundle_body())
    await harness.settle()
    current = load_certificates_pem(harness.kube.secrets[(NAMESPACE, "ca-ca")].data["tls.crt"])[0]
    assert published(harness) == {fingerprint(current)}, "published although the ConfigMap source fails"
    synced = harness.kube.objects[(TRUST_BUNDLES.plural, None, "shared")]["status"]["conditions"][0]
    assert synced["reason"] == reasons.SOURCE_UNAVAILABLE
    assert "ConfigMap/infra/missing/ca.crt" in synced["message"]

    rotated = issuer_body(**spec)
    rotated["metadata"]["annotations"] = {"certmint.dev/rotate-ca": "now"}
    rotated["metadata"]["resourceVersion"] = "i2"
    harness.add_issuer(rotated)
    await harness.step(ISSUER_KEY)  # Prepare: the next CA exists, the bundle is fanned out
    assert issuer_status(harness)["rotation"]["phase"] == "Prepared"
    harness.clock.advance(timedelta(seconds=5))  # the propagation delay (the minimum) is over
    harness.controller.queue.add(ISSUER_KEY)  # its activation time has come
    await harness.step(ISSUER_KEY)
    status = issuer_status(harness)
    assert status["rotation"]["phase"] == "Prepared", "does not sign before the bundle publishes it"
    waiting = condition(status, reasons.CA_PUBLISHED)
    assert waiting is not None
    assert waiting["status"] == "False"
    assert waiting["reason"] == reasons.BUNDLES_LAGGING
    assert "shared" in waiting["message"]

    await harness.step(BUNDLE)  # publishes the next CA and wakes the issuer
    assert len(published(harness)) == 2
    assert harness.controller.queue.queued(ISSUER_KEY), "the bundle wakes the waiting issuer"
    await harness.step(ISSUER_KEY)
    status = issuer_status(harness)
    assert status["rotation"]["phase"] == "Overlap", "activated once published"
    assert condition(status, reasons.CA_PUBLISHED) is None
    signing = load_certificates_pem(harness.kube.secrets[(NAMESPACE, "ca-ca")].data["tls.crt"])[0]
    assert signing != current
    assert fingerprint(signing) in published(harness), "the CA that signs now was published first"
    assert reasons.CA_ACTIVATED_UNPUBLISHED not in [e.reason for e in harness.kube.events]
