"""Fetching the model and sample sets, and checking their sha256 before anything else reads them.

Schemes (docs/contracts.md, "Model and sample sources"):
  https://, http://  downloaded with a per-read timeout, retries with backoff, and a size cap.
  s3://bucket/key    an anonymous path-style GET of <CLASSROOM_S3_ENDPOINT>/bucket/key (public or
                     in-cluster object stores; the sha256 pins the content, not the credentials).
  file:///path       a path on the builder's filesystem.
A file is always copied into the build's work folder while it is hashed, so the bytes checked are
the bytes used. A folder (sample sets only) is read in place; devices, FIFOs and sockets are
refused before they are opened.

Bounded in time: every read waits at most `timeout_s`, and a whole fetch, retries included, stops
after `deadline_s` (a server that drips bytes would otherwise hold the build in `fetch` until the
Job's deadline); that is transient, for the Job's backoff. What retrying cannot fix is permanent:
a URL with whitespace or control characters, a redirect to another scheme than http(s), a host
that resolves to a link-local or metadata address (addresses.py), a missing or non-regular file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from classroom_inference import __version__
from classroom_inference.builder.addresses import ForbiddenAddress, ForbiddenRedirect, opener
from classroom_inference.builder.errors import (
    ChecksumMismatch,
    FetchFailed,
    InvalidSpec,
    TooLarge,
)

_CHUNK = 1 << 20
# The server says the URL is wrong or closed to us: retrying will not help, the spec must change.
_PERMANENT_HTTP = (400, 401, 403, 404, 410)


@dataclass(frozen=True)
class FetchPolicy:
    timeout_s: float = 30.0
    retries: int = 3
    max_bytes: int = 2 << 30
    backoff_s: float = 1.0
    deadline_s: float = 600.0
    s3_endpoint: str = "https://s3.amazonaws.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FetchPolicy:
        default = cls()
        try:
            return cls._from_env(env, default)
        except ValueError as exc:
            raise InvalidSpec(f"a CLASSROOM_FETCH_* variable is not a number ({exc}); fix the "
                              "builder's environment") from None

    @classmethod
    def _from_env(cls, env: Mapping[str, str], default: FetchPolicy) -> FetchPolicy:
        return cls(
            timeout_s=float(env.get("CLASSROOM_FETCH_TIMEOUT_SECONDS", default.timeout_s)),
            retries=int(env.get("CLASSROOM_FETCH_RETRIES", default.retries)),
            max_bytes=int(env.get("CLASSROOM_FETCH_MAX_BYTES", default.max_bytes)),
            backoff_s=float(env.get("CLASSROOM_FETCH_BACKOFF_SECONDS", default.backoff_s)),
            deadline_s=float(env.get("CLASSROOM_FETCH_DEADLINE_SECONDS", default.deadline_s)),
            s3_endpoint=env.get("CLASSROOM_S3_ENDPOINT", default.s3_endpoint).rstrip("/"),
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, field: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"{field}: the file's sha256 is {actual}, the spec says {expected}; "
            "the file changed or the spec is stale: update the sha256 or restore the file"
        )


def local_path(uri: str) -> Path | None:
    """The filesystem path of a file:// URI, or None for a remote one."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.netloc + parsed.path))
    return None


def _remote_url(uri: str, policy: FetchPolicy) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return f"{policy.s3_endpoint}/{parsed.netloc}{parsed.path}"
    return uri


def fetch(uri: str, work: Path, *, field: str, policy: FetchPolicy,
          expected_sha256: str | None = None, folder_ok: bool = False) -> Path:
    """A local copy of the file at `uri` (or, where `folder_ok`, the folder itself), checksum
    verified if given.

    Raises FetchFailed (permanent for a wrong URL, transient for network trouble), TooLarge,
    ChecksumMismatch.
    """
    work.mkdir(parents=True, exist_ok=True)
    _check_characters(uri, field)
    source = local_path(uri)
    if source is not None and source.is_dir():
        if not folder_ok:
            raise FetchFailed(f"{field}: {uri} is a folder; give the URL of the file itself",
                              permanent=True)
        if expected_sha256 is not None:
            raise FetchFailed(f"{field}: {uri} is a folder, and only a single file can be pinned "
                              "by sha256; pack it as .tar.gz or remove the sha256",
                              permanent=True)
        return source
    dest = work / (Path(urlparse(uri).path).name or "download")
    if source is not None:
        _copy_local(source, dest, uri=uri, field=field, policy=policy)
    else:
        _download(_remote_url(uri, policy), dest, uri=uri, field=field, policy=policy)
    if expected_sha256 is not None:
        verify_sha256(dest, expected_sha256, field.rsplit(".", 1)[0] + ".sha256")
    return dest


def _check_characters(uri: str, field: str) -> None:
    for position, char in enumerate(uri):
        if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
            raise FetchFailed(f"{field}: {uri!r} has a space or control character "
                              f"({char!r} at position {position}); remove it, or percent-encode "
                              "it if it belongs in the name (a space is %20)", permanent=True)


class _DeadlinePassed(Exception):
    pass


def _copy_capped(reader: BinaryIO, dest: Path, *, uri: str, field: str, policy: FetchPolicy,
                 deadline: float | None = None) -> None:
    """Copy under the size cap; with a `deadline` (time.monotonic), stop once it passes.

    read1 returns what one read of the socket gives, so a slow server cannot hold the loop
    in one read(_CHUNK) for as long as it takes to send a whole chunk.
    """
    read = getattr(reader, "read1", reader.read)
    written = 0
    with dest.open("wb") as out:
        for chunk in iter(lambda: read(_CHUNK), b""):
            written += len(chunk)
            if written > policy.max_bytes:
                raise _too_large(uri, field, policy)
            out.write(chunk)
            if deadline is not None and time.monotonic() > deadline:
                raise _DeadlinePassed


def _too_large(uri: str, field: str, policy: FetchPolicy) -> TooLarge:
    return TooLarge(f"{field}: {uri} is over the {policy.max_bytes} byte cap; use a smaller "
                    "model or raise CLASSROOM_FETCH_MAX_BYTES on the builder")


def _not_a_file(uri: str, field: str, mode: int) -> FetchFailed:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return FetchFailed(f"{field}: {uri} is {kind}, not a regular file; give the URL of the "
                       "file itself", permanent=True)


def _copy_local(source: Path, dest: Path, *, uri: str, field: str, policy: FetchPolicy) -> None:
    try:
        # Checked before opening: opening a FIFO blocks, and /dev/zero never ends.
        status = source.stat()
        if not stat.S_ISREG(status.st_mode):
            raise _not_a_file(uri, field, status.st_mode)
        if status.st_size > policy.max_bytes:
            raise _too_large(uri, field, policy)
        with source.open("rb") as reader:
            # The path may have been swapped between stat and open.
            if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
                raise _not_a_file(uri, field, os.fstat(reader.fileno()).st_mode)
            _copy_capped(reader, dest, uri=uri, field=field, policy=policy)
    except FileNotFoundError:
        raise FetchFailed(f"{field}: {uri} does not exist ({source}); upload the file there or "
                          "fix the URL", permanent=True) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise FetchFailed(f"{field}: cannot read {uri}: {exc}", permanent=True) from None


def _download(url: str, dest: Path, *, uri: str, field: str, policy: FetchPolicy) -> None:
    deadline = time.monotonic() + policy.deadline_s
    last: Exception | None = None
    attempts = 0
    for attempt in range(policy.retries + 1):
        if attempt:
            pause = policy.backoff_s * 2 ** (attempt - 1)
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        attempts += 1
        try:
            _attempt(url, dest, uri=uri, field=field, policy=policy, deadline=deadline)
            return
        except urllib.error.HTTPError as exc:
            if exc.code in _PERMANENT_HTTP:
                raise FetchFailed(f"{field}: {uri} answered HTTP {exc.code} {exc.reason}; "
                                  "fix the URL or the server's permissions", permanent=True
                                  ) from None
            last = exc
        except ForbiddenRedirect as exc:
            raise FetchFailed(f"{field}: {uri}: {exc}; give the final http(s) URL",
                              permanent=True) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ForbiddenAddress):
                raise FetchFailed(f"{field}: {uri}: {exc.reason}; give the URL of a model "
                                  "server or object store", permanent=True) from None
            last = exc
        except _DeadlinePassed:
            pass
        except OSError as exc:  # timeouts and resets while reading the body
            last = exc
        dest.unlink(missing_ok=True)
        if time.monotonic() >= deadline:
            break
    dest.unlink(missing_ok=True)
    if time.monotonic() >= deadline:
        raise FetchFailed(f"{field}: {uri} was not downloaded within "
                          f"CLASSROOM_FETCH_DEADLINE_SECONDS ({policy.deadline_s:g} s, "
                          f"{attempts} attempts): the server is too slow or stalls; the build is "
                          "retried, or raise the deadline for a large model on a slow link")
    raise FetchFailed(f"{field}: {uri} could not be downloaded after {attempts} attempts "
                      f"(timeout {policy.timeout_s:g} s each read): {last}")


def _attempt(url: str, dest: Path, *, uri: str, field: str, policy: FetchPolicy,
             deadline: float) -> None:
    request = urllib.request.Request(
        url, headers={"User-Agent": f"classroom-inference/{__version__}"})
    timeout = max(0.001, min(policy.timeout_s, deadline - time.monotonic()))
    with opener().open(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        if length is not None and int(length) > policy.max_bytes:
            raise _too_large(uri, field, policy)
        _copy_capped(response, dest, uri=uri, field=field, policy=policy, deadline=deadline)
