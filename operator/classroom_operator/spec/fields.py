"""Reading one field of a ClassroomModel's spec: the type and range checks every section shares,
the CRD's default when the field is missing, and a `SpecError` naming the field and the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# URLs the operator and the data plane can read: model files, and classroom streams.
DATA_SCHEMES = ("https://", "http://", "s3://", "file://")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "https://", "http://", "file://")
# A Secret's name: a DNS subdomain.
SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_NAME_MAX = 253
# scheme://user[:password]@host: the part before the first '/', '?' or '#' holds an '@'.
USER_INFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#]*@", re.IGNORECASE)


class SpecError(ValueError):
    """A field of the spec is unusable; `field` is its path, the message says how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"spec.{field}: {message}")
        self.field = f"spec.{field}"




def read_section(raw: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}{key}", "must be an object")
    return value


def read_string(raw: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise SpecError(f"{path}{key}", "is required and must be a non-empty string")
    return value


def read_optional_string(raw: Mapping[str, Any], key: str, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(f"{path}{key}", "must be a non-empty string when given")
    return value


def read_integer(raw: Mapping[str, Any], key: str, path: str, default: int,
             low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{path}{key}", f"must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise SpecError(f"{path}{key}", f"is {value}; use a value from {low} to {high}")
    return value


def read_number(raw: Mapping[str, Any], key: str, path: str, default: float,
            low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{path}{key}", f"must be a number from {low:g} to {high:g}")
    if not low <= value <= high:
        raise SpecError(f"{path}{key}", f"is {value:g}; use a value from {low:g} to {high:g}")
    return float(value)


def read_boolean(raw: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(f"{path}{key}", "must be true or false")
    return value


def read_choice(raw: Mapping[str, Any], key: str, path: str, default: str,
            choices: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise SpecError(f"{path}{key}", f"is {value!r}; use one of {', '.join(choices)}")
    return str(value)


def read_sha256(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = read_string(raw, key, path)
    if not SHA256.match(value):
        raise SpecError(f"{path}{key}", "must be 64 lowercase hex characters (`sha256sum` output)")
    return value


def read_url(raw: Mapping[str, Any], key: str, path: str, schemes: tuple[str, ...]) -> str:
    value = read_string(raw, key, path)
    if not value.startswith(schemes) or value in schemes:
        names = ", ".join(scheme.rstrip(":/") for scheme in schemes)
        raise SpecError(f"{path}{key}", f"{value!r} is not a URL with scheme {names}")
    return value


def carries_credentials(url: str) -> bool:
    """Whether a URL holds a user (and password) before its host."""
    return bool(USER_INFO.match(url))


def read_stream_url(raw: Mapping[str, Any], key: str, path: str) -> str:
    """A camera URL without credentials; the message never repeats a URL that carries them."""
    value = read_string(raw, key, path)
    if carries_credentials(value):
        raise SpecError(f"{path}{key}", "must not carry credentials: put them in a Secret with "
                        "keys username and password and name it in credentialsSecretRef")
    return read_url(raw, key, path, STREAM_SCHEMES)


def read_secret_ref(raw: Mapping[str, Any], key: str, path: str) -> str | None:
    """The Secret name of a `{name}` reference, or None when the reference is absent."""
    value = raw.get(key)
    if value is None:
        return None
    name = value.get("name") if isinstance(value, Mapping) else None
    if not isinstance(name, str) or len(name) > SECRET_NAME_MAX or not SECRET_NAME.match(name):
        raise SpecError(f"{path}{key}.name", "must name a Secret in the same namespace "
                        "(a DNS subdomain, e.g. room-101-cameras) with keys username and "
                        "password")
    return name


def read_floats(raw: Mapping[str, Any], key: str, path: str, default: tuple[float, ...],
            channels: int) -> tuple[float, ...]:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(
        isinstance(item, int | float) and not isinstance(item, bool) for item in value
    ):
        raise SpecError(f"{path}{key}", "must be a list of numbers, one per channel")
    if len(value) != channels:
        raise SpecError(
            f"{path}{key}",
            f"has {len(value)} values but the input has {channels} channel(s); give one per "
            f"channel, e.g. [0.5] for grayscale",
        )
    return tuple(float(item) for item in value)
