"""Serving a revoke request: the serial goes on the issuer's list, the request is marked served."""

import logging

from certmint.api import Certificate
from certmint.operator.certificates.issuing import reference
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.revocations import record_revocation
from certmint.operator.state import Key
from certmint.pki import serial_hex
from certmint.planning.certificates.actions import RevokeCurrent

log = logging.getLogger("certmint.certificates")


async def revoke(
    ctx: Context, key: Key, certificate: Certificate, signer: Key, plan: RevokeCurrent
) -> Outcome:
    """Durably on the issuer's list first, then the request marked served: a crash in between
    revokes again, which changes nothing. Once the issuer has signed its new CRLs (and so lists the
    serial as revoked) the Certificate is planned again: re-issued, or reported Revoked."""
    revoked, request = plan.revoke.certificate, plan.revoke.request
    await record_revocation(ctx, signer, revoked, request.reason)
    marked = await ctx.kube.mark_secret(key.namespace, certificate.spec.secret_name, {}, plan.served)
    await ctx.kube.post_event(reference(certificate), plan.event.type, plan.event.reason, plan.event.message)
    serial = serial_hex(revoked.serial_number)
    log.info("revoked %s/%s serial %s (%s)", key.namespace, key.name, serial, request.reason)
    return Outcome(wait_for=signer, secrets=((key.namespace, marked.view()),))
