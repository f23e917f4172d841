"""PKI micro-benchmark: certificates per second on the issue paths, on one core.

python bench/pki_bench.py [--ec N] [--rsa N] [--crl-entries N]
"""

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from certmint.pki import (
    CARequest,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ec", type=int, default=2000, help="EC P-256 issuances")
    parser.add_argument("--rsa", type=int, default=200, help="RSA-2048 issuances")
    parser.add_argument("--crl-entries", type=int, default=10_000, help="revoked serials in the CRL")
    args = parser.parse_args()

    now = datetime.now(UTC)
    ca = create_root_ca(CARequest("bench CA", timedelta(days=365)), now)
    request = LeafRequest(
        dns_names=("web.shop.svc", "web.shop.svc.cluster.local"),
        uris=("spiffe://cluster.local/ns/shop/sa/web",),
        duration=timedelta(hours=24),
    )
    reused = generate_private_key(KeySpec())
    revoked = [RevokedCertificate(serial, now) for serial in range(1, args.crl_entries + 1)]
    rows = [
        measure("EC P-256 keygen + sign", args.ec, lambda: issue_leaf(request, KeySpec(), ca, now)),
        measure(
            "sign only (EC key reused)", args.ec, lambda: sign_leaf(request, reused.public_key(), ca, now)
        ),
        measure(
            "RSA-2048 keygen + sign",
            args.rsa,
            lambda: issue_leaf(request, KeySpec(KeyAlgorithm.RSA, 2048), ca, now),
        ),
        measure(
            f"CRL with {args.crl_entries} entries",
            1,
            lambda: build_crl(ca, revoked, now, timedelta(hours=1), 1),
        ),
    ]
    print("| path | count | seconds | per second | mean ms |")
    print("|---|---:|---:|---:|---:|")
    for label, count, seconds in rows:
        print(
            f"| {label} | {count} | {seconds:.3f} | {count / seconds:,.0f} | {1000 * seconds / count:.3f} |"
        )


if __name__ == "__main__":
    main()
