"""Parse and check a stream URL before anything is opened, so a typo fails at once and clearly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import InvalidStreamUrl, UnsupportedScheme

LIVE_SCHEMES = ("rtsp", "rtsps")
DECODED_SCHEMES = (*LIVE_SCHEMES, "http", "https", "file")
SCHEMES = (*DECODED_SCHEMES, "synthetic")

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
_PASSWORD = re.compile(r"(//[^/@:?#]*:)[^/@?#]*@")
_PASSWORD_ONLY = re.compile(r"//[^/@:?#]*:([^/@?#]*)@")


@dataclass(frozen=True)
class StreamUrl:
    """A checked stream URL. `shown` is safe for logs and status: any password is masked."""

    raw: str
    scheme: str
    shown: str
    path: str
    query: dict[str, str]

    def flag(self, name: str) -> bool | None:
        """A yes/no query parameter (`?loop=1`), or None when absent."""
        if name not in self.query:
            return None
        word = self.query[name].lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise InvalidStreamUrl(
            f"{self.shown}: query parameter {name!r} is {self.query[name]!r}; "
            f"use {name}=1 or {name}=0"
        )

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        if name not in self.query:
            return default
        text = self.query[name]
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:
            raise InvalidStreamUrl(
                f"{self.shown}: query parameter {name!r} is {text!r}; "
                f"give a number from {minimum:g} to {maximum:g}"
            )
        return value


def mask_password(url: str) -> str:
    """The URL with the password of `scheme://user:password@host` replaced by ***."""
    return _PASSWORD.sub(r"\1***@", url)


def without_password(message: str, url: str) -> str:
    """`message` with any password of `url` (as written or percent-decoded) replaced by ***."""
    secrets = set(_PASSWORD_ONLY.findall(url))
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        secrets |= {password, unquote(password)}
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def without_url(message: str, url: str, stream_id: str) -> str:
    """`message` naming the stream by its id instead of its URL: the URL as given, masked, or as
    FFmpeg was handed it (a file's path), its host, and any password in it are taken out, so an
    error can go to the status document, events, logs and metrics (docs/contracts.md)."""
    label = f"stream {stream_id}"
    forms = {url, mask_password(url), url.split("?", 1)[0], mask_password(url.split("?", 1)[0])}
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None:
        forms |= {parts.netloc, mask_password(f"//{parts.netloc}")[2:],
                  parts.netloc.rpartition("@")[2]}
        if parts.scheme.lower() == "file":
            forms |= {parts.path, unquote(parts.path)}
    for form in sorted(forms - {"", "/"}, key=len, reverse=True):
        message = message.replace(form, label)
    return without_password(message, url)


def parse_stream_url(url: str) -> StreamUrl:
    """Check the URL's form and scheme; nothing is opened."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidStreamUrl("stream url is empty; give e.g. rtsp://camera.school.lan/room-101")
    if url != url.strip() or any(ch.isspace() for ch in url):
        raise InvalidStreamUrl(
            f"stream url {mask_password(url.strip())!r} contains whitespace; "
            f"remove it or encode it as %20"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidStreamUrl(f"stream url {mask_password(url)!r} is malformed: {error}") from None
    shown = mask_password(url)
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        raise InvalidStreamUrl(
            f"stream url {shown!r} has no scheme; write it as rtsp://host/path, "
            f"file:///absolute/path.mp4 or synthetic://name"
        )
    if scheme not in SCHEMES:
        raise UnsupportedScheme(
            f"stream url {shown!r}: scheme {scheme!r} is not supported; use one of "
            f"{', '.join(SCHEMES)}"
        )
    pairs = parse_qs(parts.query, keep_blank_values=True)
    query = {key: values[-1] for key, values in pairs.items()}
    if scheme == "file":
        return _file_url(url, shown, parts.netloc, unquote(parts.path), query)
    if scheme != "synthetic" and not parts.hostname:
        raise InvalidStreamUrl(f"stream url {shown!r} has no host; write {scheme}://host[:port]/path")
    if port == 0:
        raise InvalidStreamUrl(f"stream url {shown!r}: port 0 is not a valid port")
    return StreamUrl(raw=url, scheme=scheme, shown=shown, path=parts.path, query=query)


def _file_url(url: str, shown: str, host: str, path: str, query: dict[str, str]) -> StreamUrl:
    if host not in ("", "localhost"):
        raise InvalidStreamUrl(
            f"stream url {shown!r}: file URLs name a local path, not host "
            f"{mask_password('//' + host)[2:]!r}; "
            f"write file:///absolute/path"
        )
    if not path.startswith("/"):
        raise InvalidStreamUrl(f"stream url {shown!r}: the file path must be absolute (file:///...)")
    if path.endswith("/"):
        raise InvalidStreamUrl(f"stream url {shown!r} names a folder; name a video file")
    return StreamUrl(raw=url, scheme="file", shown=shown, path=path, query=query)
