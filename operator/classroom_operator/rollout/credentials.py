"""Camera credentials for a pool's pods (pure; docs/contracts.md, "Camera credentials").

A stream names a Secret (its own credentialsSecretRef, else its classroom's) with the keys
`username` and `password`, in the model's namespace. The rollout pass reads those Secrets by name
(reconcile/rollout.py: the operator may `get` Secrets, never list or watch them) and hands what
it found here as `LoginLookup`s. Each pool gets a Secret of its own, `<pool>-credentials`, whose
`streams.json` holds the logins of the streams its pods serve and no others, so a pod never
holds the password of a camera it does not read. A Secret or key that is missing leaves its
streams assigned (they connect without a login and fail at the camera, visibly) and is named in
the CameraCredentials condition: which stream lacks which Secret or key, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from classroom_operator.conditions import Condition
from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pools import CREDENTIALS_FILE, stream_ids

USERNAME = "username"
PASSWORD = "password"
SHOWN = 5  # streams named in the condition's message; the rest are counted


@dataclass(frozen=True)
class CameraLogin:
    username: str
    # Left out of repr, so a login printed in a log or a traceback shows no password.
    password: str = field(repr=False)


# What a pass learnt of one Secret: the login, or why there is none (a text that names the
# Secret and the key, never a value).
LoginLookup = CameraLogin | str


def secrets_named(rooms: Iterable[Room]) -> list[str]:
    """The Secrets the rooms' streams name, each once, sorted."""
    return sorted({s.credentials for room in rooms for s in room.streams if s.credentials})


def secret_text(data: Mapping[str, str], key: str) -> str | None:
    try:
        return base64.b64decode(data[key], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def login_from_secret(name: str, data: Mapping[str, str] | None) -> LoginLookup:
    """The login in a Secret's `data` (base64, as the API returns it); None: no such Secret."""
    if data is None:
        return f"Secret {name} not found"
    if USERNAME not in data or PASSWORD not in data:
        missing = " and ".join(key for key in (USERNAME, PASSWORD) if key not in data)
        return f"Secret {name} has no key {missing}"
    username, password = secret_text(data, USERNAME), secret_text(data, PASSWORD)
    if not username:
        return f"Secret {name}: key {USERNAME} is empty or not UTF-8 text"
    if password is None:
        return f"Secret {name}: key {PASSWORD} is not UTF-8 text"
    return CameraLogin(username, password)


@dataclass(frozen=True)
class PoolCredentials:
    """The `streams.json` of one pool: stream id -> {username, password}."""

    logins: Mapping[str, CameraLogin]

    def text(self) -> str:
        return json.dumps({stream: {USERNAME: login.username, PASSWORD: login.password}
                           for stream, login in sorted(self.logins.items())},
                          sort_keys=True, separators=(",", ":"))

    def data(self) -> dict[str, str]:
        """The pool Secret's `data`, base64 like the API stores it, so a patch that changes
        nothing is one the API server recognises as unchanged."""
        return {CREDENTIALS_FILE: base64.b64encode(self.text().encode()).decode()}


def pool_credentials(rooms: Iterable[Room],
                     lookups: Mapping[str, LoginLookup]) -> PoolCredentials:
    """The logins of the rooms' streams that name a Secret the pass could read."""
    logins: dict[str, CameraLogin] = {}
    for room in rooms:
        for stream_id, stream in zip(stream_ids(room), room.streams, strict=True):
            found = lookups.get(stream.credentials) if stream.credentials else None
            if isinstance(found, CameraLogin):
                logins[stream_id] = found
    return PoolCredentials(logins)


def credentials_condition(rooms: Iterable[Room],
                          lookups: Mapping[str, LoginLookup]) -> Condition:
    """CameraCredentials: True when every stream that names a Secret has its login."""
    wanted = [(stream_id, stream.credentials) for room in rooms
              for stream_id, stream in zip(stream_ids(room), room.streams, strict=True)
              if stream.credentials]
    problems = []
    for stream_id, secret in wanted:
        found = lookups.get(secret, f"Secret {secret} was not read")
        if not isinstance(found, CameraLogin):
            problems.append(f"stream {stream_id}: {found}")
    if problems:
        shown = "; ".join(problems[:SHOWN])
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        return Condition("CameraCredentials", "False", "CredentialsMissing",
                         f"{len(problems)} of {len(wanted)} streams that name a "
                         f"credentialsSecretRef have no login and connect without one: {shown}"
                         f"{more}. Create the Secret in the model's namespace with keys "
                         f"{USERNAME} and {PASSWORD}")
    if not wanted:
        return Condition("CameraCredentials", "True", "NoneNeeded",
                         "no stream names a credentialsSecretRef")
    secrets = len({secret for _, secret in wanted})
    return Condition("CameraCredentials", "True", "Resolved",
                     f"{len(wanted)} streams log in with credentials from {secrets} Secrets, "
                     "each given only to the pods serving the stream")
