"""Which private key a new certificate gets, and the keystore password it is sealed with."""

from certmint.operator.context import Context
from certmint.pki import PKIError, PrivateKey, key_spec_of, load_private_key_pem
from certmint.planning import reasons
from certmint.planning.gates import Fail
from certmint.planning.ownership import password_secret_refusal
from certmint.planning.request import IssuanceSpec


async def reusable_key(
    ctx: Context, namespace: str, secret_name: str, spec: IssuanceSpec
) -> PrivateKey | None:
    """The Secret's key, which the plan chose to keep (rotationPolicy Never), while it still fits
    the spec. The view keeps no key, so it is read from the Secret, only here."""
    stored = await ctx.kube.read_secret(namespace, secret_name)
    key_pem = stored.data.get("tls.key") if stored else None
    if not key_pem:
        return None
    try:
        # The tenant's own key for its own certificate: consistency, not OpenSSL's costly primality checks.
        key = load_private_key_pem(key_pem, validate=False)
    except PKIError:
        return None
    return key if key_spec_of(key) == spec.key else None


async def keystore_password(ctx: Context, namespace: str, spec: IssuanceSpec) -> bytes | Fail | None:
    """None when no PKCS#12 keystore is asked for."""
    if spec.pkcs12 is None:
        return None
    ref = spec.pkcs12.password_secret_ref
    password_secret = await ctx.kube.read_secret(namespace, ref.name)
    password = password_secret.data.get(ref.key) if password_secret else None
    # Both retried with backoff: no watch reports the password Secret appearing or opting in.
    if password_secret is None or password is None:
        message = f"PKCS#12 password Secret {ref.name} with key {ref.key} not found"
        return Fail(reasons.PASSWORD_SECRET_NOT_FOUND, message, retryable=True)
    refusal = password_secret_refusal(ref.name, password_secret)
    if refusal is not None:
        return Fail(reasons.PASSWORD_SECRET_NOT_ALLOWED, refusal, retryable=True)
    return password
