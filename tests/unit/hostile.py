"""Hypothesis strategies for hostile input: Certificate specs and policies that pass (or nearly pass)
the CRD schema, with the names, durations and annotations an attacker or a typo would write."""

from typing import Any

from hypothesis import strategies as st

from certmint.pki import KeyAlgorithm, RevocationReason, Usage
from certmint.planning import labels

NAMESPACES = ("a", "b", "kube-system")
LABELS = st.dictionaries(st.sampled_from(["tier", "team"]), st.sampled_from(["prod", "dev"]), max_size=2)

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_dns = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.builds(lambda ns: f"web.{ns}.svc", st.sampled_from(NAMESPACES)),
    st.builds(lambda ns: f"*.{ns}.svc", st.sampled_from(NAMESPACES)),
    st.sampled_from(["*", "*.*.com", "10.0.0.1", "bücher.example", "a..b", "-x.com", "x" * 300, ""]),
    st.text(max_size=20),
)
_uri = st.one_of(
    st.builds(lambda ns, sa: f"spiffe://cluster.local/ns/{ns}/sa/{sa}", st.sampled_from(NAMESPACES), _label),
    st.sampled_from(
        [
            "spiffe://cluster.local/ns/b/sa/admin/../../ns/a",
            "spiffe://cluster.local/NS/b/sa/x",
            "spiffe://other.domain/ns/b/sa/x",
            "spiffe:///ns/a/sa/x",
            "https://example.com/ns/b",
            "not a uri",
        ]
    ),
    st.text(max_size=20),
)
_ip = st.one_of(st.ip_addresses().map(str), st.sampled_from(["999.1.1.1", "::ffff:1.2.3.4", "1.2.3", ""]))
_duration = st.one_of(
    st.sampled_from(
        ["1m", "24h", "0s", "1h30m", "8760h", "999999h", "2562047h", "99999999999h", "0.5m", "1ns"]
    ),
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**6), st.sampled_from(["s", "m", "h"])),
)
_key = st.one_of(
    st.just({}),
    st.builds(lambda size: {"algorithm": "ECDSA", "size": size}, st.sampled_from([256, 384, 521, 2048])),
    st.builds(lambda size: {"algorithm": "RSA", "size": size}, st.sampled_from([2048, 1024])),
    st.just({"algorithm": "Ed25519"}),
    st.just({"algorithm": "Ed25519", "size": 256}),
)


@st.composite
def certificate_bodies(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"secretName": "web-tls", "issuerRef": {"name": "ca"}}
    optional = {
        "commonName": st.one_of(st.text(max_size=70), st.just("ü" * 64)),
        "dnsNames": st.lists(_dns, max_size=6),
        "ipAddresses": st.lists(_ip, max_size=3),
        "uris": st.lists(_uri, max_size=3),
        "emailAddresses": st.lists(st.sampled_from(["a@b.c", "bad", "ü@example.com", "@"]), max_size=2),
        "identity": st.builds(lambda sa: {"serviceAccount": sa}, _label),
        "duration": _duration,
        "renewBefore": _duration,
        "renewBeforePercentage": st.integers(-5, 120),
        "usages": st.lists(st.sampled_from(list(Usage)), max_size=4),
        "isCA": st.booleans(),
        "privateKey": _key,
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            spec[field] = draw(strategy)
    annotations = draw(
        st.dictionaries(
            st.sampled_from(
                [labels.REVOKE_REQUEST, labels.REVOKE_REASON, labels.RENEW_REQUEST, labels.REVOKE_REISSUE]
            ),
            st.one_of(st.sampled_from([reason.value for reason in RevocationReason]), st.text(max_size=10)),
            max_size=3,
        )
    )
    return {
        "metadata": {
            "name": "web",
            "namespace": draw(st.sampled_from(NAMESPACES)),
            "uid": "uid-web",
            "generation": 1,
            "annotations": annotations,
        },
        "spec": spec,
    }


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    policy: dict[str, Any] = {}
    optional = {
        "namespaceSelector": st.builds(
            lambda tier: {"matchLabels": {"tier": tier}}, st.sampled_from(["prod", "dev"])
        ),
        "allowedDNSNames": st.lists(
            st.sampled_from(["*.${namespace}.svc", "${namespace}.example.com", "*", "web.*.svc"]), max_size=2
        ),
        "allowedURIs": st.lists(
            st.sampled_from(
                [
                    "spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}",
                    "spiffe://cluster.local/ns/*/sa/*",
                ]
            ),
            max_size=2,
        ),
        "maxDuration": st.sampled_from(["1h", "24h", "48h"]),
        "allowedKeyAlgorithms": st.lists(st.sampled_from(list(KeyAlgorithm)), max_size=2),
        "allowedUsages": st.lists(st.sampled_from(list(Usage)), max_size=4),
        "allowCA": st.booleans(),
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            policy[field] = draw(strategy)
    return policy


@st.composite
def issuer_bodies(draw: st.DrawFn) -> dict[str, Any]:
    self_signed: dict[str, Any] = {}
    optional = {
        "commonName": st.one_of(st.text(max_size=64), st.just("ü" * 64)),
        "organization": st.text(max_size=64),
        "caDuration": _duration,
        "privateKey": _key,
        "secretName": _label,
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            self_signed[field] = draw(strategy)
    spec = {"selfSigned": self_signed} if draw(st.booleans()) else {"ca": {"secretName": draw(_label)}}
    return {"metadata": {"name": draw(_label), "namespace": "a", "uid": "u", "generation": 1}, "spec": spec}


PEM_JUNK = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\n",
        ]
    ),
)
