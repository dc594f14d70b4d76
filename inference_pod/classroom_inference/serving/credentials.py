"""Camera credentials from a Secret, put into a stream's URL only at the moment it is opened.

The operator resolves each stream's credentialsSecretRef into a Secret mounted only into the pod
serving the stream, at /etc/classroom/credentials/streams.json (`--stream-credentials`):

    {"<stream id>": {"username": "...", "password": "..."}}

The file is followed like the assignment (followed_file.py): a stream whose credentials change
is reconnected with the new ones. A missing or malformed file is reported (status
`credentials.error`) while the last good credentials, or none, stay in use, so streams that need
none keep being served. Credentials go into rtsp, rtsps, http and https URLs, percent-encoded, and
nowhere else: not the status document, events, logs, metrics or error texts. Errors from a
source opened with them are scrubbed of them before anyone sees them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from classroom_inference.serving.followed_file import FollowedFile
from classroom_inference.serving.frames import Intake, Source
from classroom_inference.serving.sources import (
    SourceOptions,
    StreamError,
    StreamUnavailable,
    open_source,
    parse_stream_url,
)

log = logging.getLogger(__name__)

CREDENTIAL_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PATH = Path("/etc/classroom/credentials/streams.json")


class CredentialsInvalid(ValueError):
    """The credentials file cannot be used; the message names the entry and the fix, never a
    value from it."""


class CredentialsChanged(StreamError):
    """The stream's credentials changed while it was open: it reconnects with the new ones."""

    reason = "CredentialsChanged"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def parse_credentials(doc: Any) -> dict[str, Credentials]:
    if not isinstance(doc, dict):
        raise CredentialsInvalid(
            'it must be a JSON object {"<stream id>": {"username": ..., "password": ...}}')
    found: dict[str, Credentials] = {}
    for stream_id, entry in doc.items():
        where = f"entry {stream_id!r}"
        if not isinstance(entry, dict):
            raise CredentialsInvalid(f"{where} must be an object with username and password")
        for key in ("username", "password"):
            if not isinstance(entry.get(key), str):
                raise CredentialsInvalid(
                    f"{where}: {key} is {'missing' if key not in entry else 'not a string'}; "
                    f"the Secret named by the stream's credentialsSecretRef needs the key {key}")
        if not entry["username"]:
            raise CredentialsInvalid(f"{where}: username is empty")
        found[stream_id] = Credentials(entry["username"], entry["password"])
    return found


def with_credentials(url: str, credentials: Credentials) -> str:
    """The URL with `user:password@` (percent-encoded) in place of any userinfo it had."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = f"{quote(credentials.username, safe='')}:{quote(credentials.password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def _scrubber(url: str, credentialed: str, credentials: Credentials) -> re.Pattern[str]:
    secrets = {credentialed, credentials.username, credentials.password,
               quote(credentials.username, safe=""), quote(credentials.password, safe="")}
    words = sorted((s for s in secrets if s), key=len, reverse=True)
    # Bounded by non-word characters, so a short username does not eat parts of other words.
    return re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in words))


class _Attempt:
    """One attempt at reading a stream: it ends when the stream's credentials change, and
    whatever it fails with is told without them."""

    def __init__(self, stream_id: str, source: Source, scrub: re.Pattern[str] | None,
                 renewed: asyncio.Event) -> None:
        self.stream_id = stream_id
        self._source = source
        self._scrub = scrub
        self._renewed = renewed

    async def run(self, intake: Intake) -> None:
        reading = asyncio.ensure_future(self._source.run(intake))
        renewed = asyncio.ensure_future(self._renewed.wait())
        try:
            done, _ = await asyncio.wait({reading, renewed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, renewed):
                task.cancel()
            await asyncio.gather(reading, renewed, return_exceptions=True)
        if reading not in done:
            raise CredentialsChanged(
                f"stream {self.stream_id}: its credentials changed; reconnecting with the new ones")
        error = reading.exception()
        if error is None:
            return
        if self._scrub is None:
            raise error
        text = self._scrub.sub("***", str(error))
        if isinstance(error, StreamError):
            raise type(error)(text) from None
        raise StreamUnavailable(f"{type(error).__name__}: {text}") from None

    async def close(self) -> None:
        await self._source.close()


class StreamCredentials:
    """The credentials file followed, and the `connect` the stream supervisors open sources with."""

    def __init__(self, path: Path | None, *, poll_seconds: float = 1.0) -> None:
        self.path = path
        self.poll_seconds = poll_seconds
        self.current: dict[str, Credentials] = {}
        self.error: str | None = None
        self._file = FollowedFile(path) if path is not None else None
        self._renewed: dict[str, asyncio.Event] = {}  # per stream: set when its credentials change
        self._unused_warned: set[str] = set()

    @property
    def configured(self) -> bool:
        return self.path is not None

    def check(self) -> set[str]:
        """Re-read the file if it changed; the ids of streams whose credentials changed."""
        if self._file is None:
            return set()
        try:
            data = self._file.changed()
        except OSError as exc:
            self._refuse(f"cannot read the stream credentials file {self.path}: {exc.strerror}")
            return set()
        if data is None:
            return set()
        try:
            found = parse_credentials(json.loads(data))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._refuse(f"the stream credentials file {self.path} is not UTF-8 JSON")
            return set()
        except CredentialsInvalid as exc:
            self._refuse(f"the stream credentials file {self.path} is invalid: {exc}")
            return set()
        self._file.accept()
        if self.error is not None:
            log.info("the stream credentials file %s is usable again", self.path)
        self.error = None
        changed = {sid for sid in found.keys() | self.current.keys()
                   if found.get(sid) != self.current.get(sid)}
        self.current = found
        for sid in changed:
            event = self._renewed.pop(sid, None)
            if event is not None:
                event.set()
        if changed:
            log.info("stream credentials changed for %d streams; they reconnect", len(changed))
        return changed

    def _refuse(self, message: str) -> None:
        kept = ("the previous credentials stay in use" if self.current
                else "streams are opened without credentials")
        if message != self.error:
            log.error("%s; %s", message, kept)
        self.error = message
        if self._file is not None:
            self._file.refuse()

    async def run(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(self.poll_seconds)

    def connect(self, stream_id: str, url: str, options: SourceOptions | None) -> Source:
        """A source for one attempt at the stream, with its current credentials in the URL."""
        credentials = self.current.get(stream_id)
        renewed = self._renewed.setdefault(stream_id, asyncio.Event())
        if credentials is None:
            return _Attempt(stream_id, open_source(stream_id, url, options), None, renewed)
        checked = parse_stream_url(url)
        if checked.scheme not in CREDENTIAL_SCHEMES:
            if stream_id not in self._unused_warned:
                self._unused_warned.add(stream_id)
                log.warning("stream %s has credentials but its URL scheme %s takes none; they "
                            "are not used", stream_id, checked.scheme)
            return _Attempt(stream_id, open_source(stream_id, checked, options), None, renewed)
        credentialed = with_credentials(url, credentials)
        # `raw` carries them to FFmpeg; `shown`, in every message, is the URL as assigned.
        source = open_source(stream_id, replace(checked, raw=credentialed), options)
        return _Attempt(stream_id, source, _scrubber(url, credentialed, credentials), renewed)

    def status(self) -> dict[str, Any]:
        return {"streams": len(self.current), "error": self.error}
