"""CPU-heavy cryptography off the event loop, and a bound on how much of it runs at once.

The event loop serves every watch, every reconcile, /metrics, CRLs and OCSP: work that takes
milliseconds or more on input a tenant controls (RSA key generation and signing, PKCS#12 sealing,
CA generation, CRL signing) runs in a small pool of threads instead, so one slow input costs its
own time and not everyone's. The pool's size bounds it: at most CRYPTO_THREADS such jobs at once,
the rest wait their turn without holding the loop. Cheap work (ECDSA and Ed25519 signatures, keys
whose size the header already told) stays inline: handing it to a thread costs more than doing it.

Only work that releases the GIL gains from a thread: cryptography does so for key generation and
signing, not for RSA key validation (4.5 s for RSA 8192, all of it holding the GIL). That one is
never run on keys from Secrets: their size is read from the header first and the primality checks
are skipped (pki.keys.load_private_key_pem).
"""

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, ParamSpec, TypeVar

CRYPTO_THREADS: Final = 2
"""Threads for CPU-heavy cryptography: enough to use a second core while the loop runs on one, few
enough that a burst of RSA issuances queues here instead of taking the GIL from the loop."""

_executor = ThreadPoolExecutor(max_workers=CRYPTO_THREADS, thread_name_prefix="certmint-crypto")

P = ParamSpec("P")
R = TypeVar("R")


async def off_loop(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`work(*args, **kwargs)` in the crypto pool; waits for a free thread if all are busy."""
    return await asyncio.get_running_loop().run_in_executor(
        _executor, functools.partial(work, *args, **kwargs)
    )
