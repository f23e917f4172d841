"""How long the hostile-load canary takes while an attack is under way (issue 27), on a real local
control plane with the operator as a process; appends a section to bench/results/<date>.md.

    python bench/hostile.py [--annotations 40] [--csrs 300] [--ips 60000]

The canary: a fresh namespace, a self-signed Issuer and one Certificate, timed from the namespace's
create until the Certificate is Ready (what tests/e2e/canary.py asserts, here timed). Measured with
nothing else going on, then while each attack runs:

- a tenant Secret labelled certmint.dev/secret-role holding an RSA-8192 key, annotated N times;
- N CertificateSigningRequests of about 100 KB each for signers of issuers that do not exist;
- one CertificateSigningRequest with N IP SANs (60,000: about 490 KB) for a ClusterIssuer's
  signer, approved by an admin, until certmint has failed it;
- the looping Issuer of the issue (a 1m CA rotating at 90% with no delay and no window): refused
  at admission, so its row times an Issuer at the rotation minimums instead (a 5m CA rotating at
  50%, 5s delay, 10s window) whose rotate-ca annotation gets a new value 20 times in a row.

Beside each: the operator's worst event-loop lag (certmint_event_loop_lag_seconds), its peak RSS,
and what it caches (certmint_cached_objects) once the attack is over.
"""

import argparse
import asyncio
import base64
import ipaddress
import json
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.aio import client
from tests.e2e.manifests import cluster_issuer, self_signed_issuer
from tests.limit_material import rsa_8192_tls_secret

from devcluster.operator import OperatorProcess
from scale import (
    append_section,
    apply_issuer,
    bench_run,
    create_certificates,
    watch_ready,
)

CSR_DNS_NAMES = 1150
ROTATE_REQUESTS = 20


def metric(operator: OperatorProcess, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    return operator.samples(name).get((name, labels), float("nan"))


async def canary(run: Any, number: int) -> float:
    """Seconds from the namespace's create until its Certificate is Ready."""
    namespace = f"canary-{number}"
    started = time.perf_counter()
    await apply_issuer(run.plane, namespace)
    ready_at: dict[str, float] = {}
    watcher = asyncio.create_task(watch_ready(run.api, namespace, 1, ready_at))
    await create_certificates(run.api, namespace, ["canary"])
    await asyncio.wait_for(watcher, timeout=600)
    return ready_at["canary"] - started


def csr_with(names: list[x509.GeneralName]) -> bytes:
    """A valid PEM CSR (CN hostile) with these subject alternative names, signed by its own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile")]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def large_csr() -> bytes:
    return csr_with(
        [x509.DNSName(f"n{number:05d}-{'x' * 40}.hostile.example") for number in range(CSR_DNS_NAMES)]
    )


async def secret_attack(api: client.ApiClient, annotations: int) -> Callable[[], Coroutine[Any, Any, None]]:
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": "attack-secret"}}))
    await core.create_namespaced_secret(
        "attack-secret", client.V1Secret.model_validate(rsa_8192_tls_secret("huge-key"))
    )

    async def annotate() -> None:
        for number in range(annotations):
            patch = {"metadata": {"annotations": {"hostile/edit": str(number)}}}
            await core.patch_namespaced_secret("huge-key", "attack-secret", patch)

    return annotate


async def csr_attack(api: client.ApiClient, count: int) -> Callable[[], Coroutine[Any, Any, None]]:
    certificates = client.CertificatesV1Api(api)
    request = base64.b64encode(large_csr()).decode()

    async def flood() -> None:
        for number in range(count):
            body = {
                "metadata": {"name": f"hostile-{number}"},
                "spec": {
                    "signerName": f"issuers.certmint.dev/nowhere.ghost-{number}",
                    "request": request,
                    "usages": ["digital signature", "client auth"],
                },
            }
            await certificates.create_certificate_signing_request(
                client.V1CertificateSigningRequest.model_validate(body)
            )

    return flood


def many_ips_csr(count: int) -> bytes:
    return csr_with([x509.IPAddress(ipaddress.IPv4Address(0x0A000000 + number)) for number in range(count)])


async def many_ips_attack(run: Any, ips: int) -> Callable[[], Coroutine[Any, Any, None]]:
    """An approved CSR with `ips` IP SANs for a ClusterIssuer; done once certmint has failed it."""
    issuer = cluster_issuer("attacked", selfSigned={})
    run.plane.kubectl("apply", "-f", "-", input_text=json.dumps(issuer))
    run.plane.kubectl(
        "wait", "--for=condition=Ready", "--timeout=60s", "clusterissuers.certmint.dev/attacked"
    )
    certificates = client.CertificatesV1Api(run.api)
    request = base64.b64encode(many_ips_csr(ips)).decode()

    async def attack() -> None:
        body = {
            "metadata": {"name": "many-ips"},
            "spec": {
                "signerName": "clusterissuers.certmint.dev/attacked",
                "request": request,
                "usages": ["digital signature", "server auth"],
            },
        }
        await certificates.create_certificate_signing_request(
            client.V1CertificateSigningRequest.model_validate(body)
        )
        approval = {
            "metadata": {"name": "many-ips"},
            "spec": body["spec"],
            "status": {
                "conditions": [
                    {"type": "Approved", "status": "True", "reason": "Bench", "message": "approved"}
                ]
            },
        }
        await certificates.replace_certificate_signing_request_approval(
            "many-ips", client.V1CertificateSigningRequest.model_validate(approval)
        )
        while True:
            found = await certificates.read_certificate_signing_request("many-ips")
            conditions = (found.status.conditions if found.status else None) or []
            if any(condition.type == "Failed" for condition in conditions):
                return
            await asyncio.sleep(0.2)

    return attack


async def rotating_issuer_attack(run: Any) -> Callable[[], Coroutine[Any, Any, None]]:
    """The issue's looping spec is refused at admission (checked here); an Issuer at the minimums
    rotates during the canary instead."""
    looping = self_signed_issuer(
        "default",
        "looping",
        caDuration="1m",
        rotation={"rotateBeforePercentage": 90, "propagationDelay": "0s", "reissueWindow": "0s"},
    )
    refused = run.plane.kubectl("apply", "-f", "-", input_text=json.dumps(looping), check=False)
    if "must be at least" not in refused:
        raise AssertionError(f"the looping Issuer was not refused at admission: {refused}")
    minimums = {
        "caDuration": "5m",
        "rotation": {"rotateBeforePercentage": 50, "propagationDelay": "5s", "reissueWindow": "10s"},
    }

    await apply_issuer(run.plane, "attack-rotation", minimums)

    async def attack() -> None:
        # Every new value is a rotate-ca request: a write that asks for a CA step, served with backoff.
        for number in range(ROTATE_REQUESTS):
            run.plane.kubectl(
                "annotate",
                "--overwrite",
                "-n",
                "attack-rotation",
                "issuers.certmint.dev/ca",
                f"certmint.dev/rotate-ca=bench-{number}",
            )
            await asyncio.sleep(0.1)

    return attack


async def under(
    run: Any, number: int, attack: Callable[[], Coroutine[Any, Any, None]] | None
) -> dict[str, float]:
    attacking = asyncio.create_task(attack()) if attack is not None else None
    seconds = await canary(run, number)
    if attacking is not None:
        await attacking
    second = await canary(run, number + 100) if attacking is not None else float("nan")
    await asyncio.sleep(1)
    return {
        "canary": seconds,
        "canary after": second,
        "lag": metric(run.operator, "certmint_event_loop_lag_seconds"),
        "peak rss": run.operator.usage()[0],
        "csrs cached": metric(
            run.operator, "certmint_cached_objects", (("kind", "CertificateSigningRequest"),)
        ),
    }


async def measure(annotations: int, csrs: int, ips: int, workdir: Path) -> dict[str, dict[str, float]]:
    async with bench_run(workdir) as run:
        run.operator.start()
        results = {"idle": await under(run, 1, None)}
        results[f"RSA-8192 Secret annotated {annotations} times"] = await under(
            run, 2, await secret_attack(run.api, annotations)
        )
        results[f"{csrs} CSRs of ~100 KB, absent issuers"] = await under(
            run, 3, await csr_attack(run.api, csrs)
        )
        results[f"one approved CSR of {ips} IP SANs"] = await under(run, 4, await many_ips_attack(run, ips))
        results["an Issuer at the rotation minimums (looping spec refused)"] = await under(
            run, 5, await rotating_issuer_attack(run)
        )
        return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotations", type=int, default=40)
    parser.add_argument("--csrs", type=int, default=300)
    parser.add_argument("--ips", type=int, default=60_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="certmint-hostile-"))
    results = await measure(args.annotations, args.csrs, args.ips, root)
    rows = [
        f"| {name} | {r['canary']:.1f} | {r['canary after']:.1f} | {r['lag'] * 1000:.0f} | "
        f"{r['peak rss']:.0f} | {r['csrs cached']:.0f} |"
        for name, r in results.items()
    ]
    section = "\n".join(
        [
            f"## Canary under hostile load, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            "`python bench/hostile.py`: the canary (namespace, self-signed Issuer, one Certificate; "
            "namespace create → Ready) while each attack runs, and once more after it; the operator's "
            "worst event-loop lag over the last minute, its peak RSS, and the pending CSRs it caches.",
            "",
            "| attack | canary s | canary after s | loop lag ms | peak RSS MB | CSRs cached |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(section)
    print(f"appended to {append_section(section)}; work files in {root}")


if __name__ == "__main__":
    asyncio.run(main())
