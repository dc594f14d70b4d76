"""Signed webhook deliveries: `Classroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC covers `"<t>.<raw body>"` under the key in CLASSROOM_SINK_SIGNING_KEY, so a receiver
can tell the pod's deliveries from forged ones and refuse old ones replayed (it checks `t`
against its clock and de-duplicates on (pod, seq) within the window; docs/contracts.md,
"Webhook"). A retried delivery is signed again with the time of that attempt.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNING_KEY_ENV = "CLASSROOM_SINK_SIGNING_KEY"
SIGNATURE_HEADER = "Classroom-Signature"
MIN_KEY_CHARS = 16


class SigningKeyInvalid(ValueError):
    """The signing key is too weak to keep deliveries from being forged."""


def check_signing_key(key: str | None) -> bytes | None:
    """The key as bytes, None when unset (deliveries go unsigned)."""
    if not key:
        return None
    if len(key) < MIN_KEY_CHARS:
        raise SigningKeyInvalid(
            f"{SIGNING_KEY_ENV} has {len(key)} characters; use at least {MIN_KEY_CHARS} random "
            "characters (the sink Secret's signingKey) so signatures cannot be guessed"
        )
    return key.encode()


def signature(key: bytes, body: bytes, at: int) -> str:
    """The header value for `body` sent at unix time `at`."""
    mac = hmac.new(key, b"%d.%s" % (at, body), hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"
