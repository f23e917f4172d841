"""Which private key a new certificate gets, and the keystore password it is sealed with."""

from certmint.api.certificate import RotationPolicy
from certmint.kube.secrets import SecretObject
from certmint.operator.certificates.inputs import secret_view
from certmint.operator.context import Context
from certmint.pki import PrivateKey, key_spec_of
from certmint.planning import reasons
from certmint.planning.ownership import password_secret_refusal
from certmint.planning.plan import CurrentCertificate, Fail, Issue, parse_secret
from certmint.planning.request import IssuanceSpec


def reusable_key(spec: IssuanceSpec, secret: SecretObject | None, plan: Issue) -> PrivateKey | None:
    """The Secret's key, when rotationPolicy Never asks to keep it and it still fits the spec. A
    revoked certificate's key may be what was compromised: never reused."""
    view = secret_view(secret)
    if plan.reason == reasons.REVOKED or spec.rotation_policy != RotationPolicy.NEVER or view is None:
        return None
    current = parse_secret(view)
    if isinstance(current, CurrentCertificate) and key_spec_of(current.private_key) == spec.key:
        return current.private_key
    return None


async def keystore_password(ctx: Context, namespace: str, spec: IssuanceSpec) -> bytes | Fail | None:
    """None when no PKCS#12 keystore is asked for."""
    if spec.pkcs12 is None:
        return None
    ref = spec.pkcs12.password_secret_ref
    password_secret = secret_view(await ctx.kube.read_secret(namespace, ref.name))
    password = password_secret.data.get(ref.key) if password_secret else None
    # Both retried with backoff: no watch reports the password Secret appearing or opting in.
    if password_secret is None or password is None:
        message = f"PKCS#12 password Secret {ref.name} with key {ref.key} not found"
        return Fail(reasons.PASSWORD_SECRET_NOT_FOUND, message, retryable=True)
    refusal = password_secret_refusal(ref.name, password_secret)
    if refusal is not None:
        return Fail(reasons.PASSWORD_SECRET_NOT_ALLOWED, refusal, retryable=True)
    return password
