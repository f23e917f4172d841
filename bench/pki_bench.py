"""PKI micro-benchmark: throughput of the issue paths and of CRL building, pinned to one core.

python bench/pki_bench.py [--ec N] [--rsa N] [--crl-entries N] [--crl-builds N]
"""

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509

from certmint.pki import (
    CARequest,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    RevocationReason,
    RevokedCertificate,
    build_crl,
    create_root_ca,
    generate_private_key,
    issue_leaf,
    sign_leaf,
)


def measure(label: str, count: int, work: Callable[[], object]) -> tuple[str, int, float]:
    started = time.perf_counter()
    for _ in range(count):
        work()
    return label, count, time.perf_counter() - started


def pin_to_one_core() -> str:
    """Numbers per core are what capacity planning multiplies; where pinning is unsupported, say so."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def revocations(count: int, now: datetime) -> list[RevokedCertificate]:
    """Real-sized serials, half with a reason, as the operator would list them."""
    reasons = (RevocationReason.UNSPECIFIED, RevocationReason.SUPERSEDED)
    return [
        RevokedCertificate(x509.random_serial_number(), now - timedelta(minutes=index), reasons[index % 2])
        for index in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ec", type=int, default=2000, help="EC P-256 issuances (default 2000)")
    parser.add_argument("--rsa", type=int, default=200, help="RSA-2048 issuances (default 200)")
    parser.add_argument(
        "--crl-entries", type=int, default=10_000, help="revoked serials per CRL (default 10000)"
    )
    parser.add_argument("--crl-builds", type=int, default=5, help="CRLs to build (default 5)")
    args = parser.parse_args()

    placement = pin_to_one_core()
    now = datetime.now(UTC)
    ca = create_root_ca(CARequest("bench CA", timedelta(days=365)), now)
    request = LeafRequest(
        dns_names=("web.shop.svc", "web.shop.svc.cluster.local"),
        uris=("spiffe://cluster.local/ns/shop/sa/web",),
        duration=timedelta(hours=24),
    )
    reused = generate_private_key(KeySpec())
    revoked = revocations(args.crl_entries, now)
    rows = [
        measure("EC P-256 keygen+sign", args.ec, lambda: issue_leaf(request, KeySpec(), ca, now)),
        measure(
            "sign only (EC key reused)", args.ec, lambda: sign_leaf(request, reused.public_key(), ca, now)
        ),
        measure(
            "RSA-2048 keygen+sign",
            args.rsa,
            lambda: issue_leaf(request, KeySpec(KeyAlgorithm.RSA, 2048), ca, now),
        ),
        measure(
            f"CRL with {args.crl_entries} entries build",
            args.crl_builds,
            lambda: build_crl(ca, revoked, now, timedelta(hours=1), 1),
        ),
    ]
    print(f"EC P-256 CA, {placement}; for the CRL row, count and rate are CRLs, not certificates.\n")
    print("| path | count | seconds | certs/s | mean ms |")
    print("|---|---:|---:|---:|---:|")
    for label, count, seconds in rows:
        print(
            f"| {label} | {count} | {seconds:.3f} | {count / seconds:,.1f} | {1000 * seconds / count:.3f} |"
        )


if __name__ == "__main__":
    main()
