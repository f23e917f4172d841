"""`inspect`: decode what certmint wrote."""

import sys
from datetime import UTC, datetime
from typing import Any

import click

from certmint.cli import cluster
from certmint.cli.output import EXIT_FAILED_CHECK, REPORT_OUTPUTS, emit, output_option, split_target
from certmint.cli.session import Session
from certmint.pki import (
    PURPOSE_USAGE,
    TrustVerdict,
    check_trust,
    load_certificates_pem,
    load_crls_pem,
    summarize_certificate,
)


@click.group()
def inspect() -> None:
    """Decode what certmint wrote."""


@inspect.command("secret")
@click.argument("target")
@click.option("-n", "--namespace")
@click.option("--bundle", help="NS/NAME of a trust bundle ConfigMap to check the chain against.")
@output_option(REPORT_OUTPUTS, "yaml")
@click.pass_obj
def inspect_secret(
    session: Session, target: str, namespace: str | None, bundle: str | None, output: str | None
) -> None:
    """The chain in a Secret: subjects, SANs, validity, and whether a bundle trusts it (and for
    which TLS purposes). Exit 1 when the bundle does not trust it."""
    chosen_output = session.output_of(output, "yaml", REPORT_OUTPUTS)
    api = session.connect()
    ns, name = split_target(target, session.namespace_of(namespace))
    data = cluster.secret_data(api, ns, name)
    chain = load_certificates_pem(data.get("tls.crt", b""))
    report: dict[str, Any] = {"secret": f"{ns}/{name}", "chain": [_summary(cert) for cert in chain]}
    rejected = False
    if bundle:
        bundle_ns, bundle_name = split_target(bundle, ns)
        bundle_data = cluster.configmap_data(api, bundle_ns, bundle_name)
        trusted = load_certificates_pem(bundle_data.get("ca.crt", "").encode())
        verdict = check_trust(chain, trusted, datetime.now(UTC))
        report["trustedByBundle"] = _verdict_report(verdict)
        rejected = not verdict.trusted
        if bundle_data.get("ca.crl"):
            report["revoked"] = _revoked(chain[0], bundle_data["ca.crl"].encode())
    emit([report], chosen_output, ["secret"])
    if rejected:
        sys.exit(EXIT_FAILED_CHECK)


def _revoked(leaf: Any, crls: bytes) -> bool:
    """Whether a CRL of the leaf's issuer lists it."""
    return any(
        crl.issuer == leaf.issuer and crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
        for crl in load_crls_pem(crls)
    )


def _verdict_report(verdict: TrustVerdict) -> dict[str, Any]:
    return {
        "trusted": verdict.trusted,
        "reason": verdict.reason,
        "purposes": {
            PURPOSE_USAGE[purpose.purpose]: {"valid": purpose.valid, "reason": purpose.reason}
            for purpose in verdict.purposes
        },
    }


def _summary(cert: Any) -> dict[str, Any]:
    summary = summarize_certificate(cert)
    return {
        "subject": summary.subject,
        "issuer": summary.issuer,
        "serial": summary.serial_number,
        "notBefore": summary.not_before.isoformat(),
        "notAfter": summary.not_after.isoformat(),
        "dnsNames": list(summary.dns_names),
        "ipAddresses": list(summary.ip_addresses),
        "uris": list(summary.uris),
        "keyType": summary.key_type,
        "sha256": summary.sha256_fingerprint,
        "isCA": summary.is_ca,
    }
