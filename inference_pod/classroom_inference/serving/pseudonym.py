"""Pseudonymous student ids: a keyed hash of (classroom, stream, seat), never the raw values.

The key is per deployment (CLASSROOM_ID_SECRET, from a Secret the operator creates), so the same
student keeps one id across restarts of the pod, while someone holding only the output cannot
recompute ids from guessed classroom names and seat numbers.
"""

from __future__ import annotations

import hashlib
import hmac

SECRET_ENV = "CLASSROOM_ID_SECRET"
MIN_SECRET_CHARS = 16
ID_PREFIX = "stu_"
# 96 bits: collisions stay out of reach even across a whole district's students.
ID_HEX_CHARS = 24


class SecretInvalid(ValueError):
    """The pseudonym key is missing or too weak to hide who a student is."""


def check_secret(secret: str | None) -> bytes:
    if not secret:
        raise SecretInvalid(
            f"{SECRET_ENV} is not set; set it to a random per-deployment key "
            f"(at least {MIN_SECRET_CHARS} characters), e.g. from the operator's Secret"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise SecretInvalid(
            f"{SECRET_ENV} has {len(secret)} characters; use at least {MIN_SECRET_CHARS} "
            "random characters so student ids cannot be guessed"
        )
    return secret.encode()


class Pseudonyms:
    """Turns (classroom, stream id, seat) into a stable opaque student id."""

    def __init__(self, secret: str | None) -> None:
        self._key = check_secret(secret)

    def student(self, classroom: str, stream_id: str, seat: str) -> str:
        # A separator byte that cannot appear in the parts keeps ("a", "bc") apart from ("ab", "c").
        message = "\x1f".join((classroom, stream_id, seat)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        return ID_PREFIX + digest[:ID_HEX_CHARS]
