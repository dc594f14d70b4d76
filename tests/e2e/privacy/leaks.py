"""A scanner for what must never leave the product: camera logins and other secret values,
camera URLs, raw student identifiers and pixels. Each collected text is scanned for the checks
its kind of output promises (docs/compliance.md, docs/contracts.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

STUDENT_ID = re.compile(r"^stu_[0-9a-f]{24}$")
# Base64 of a JPEG and of a PNG start like this; raw magic bytes decoded as latin-1 or UTF-8.
PIXEL_MARKERS = ("/9j/", "iVBORw0KGgo", "\xff\xd8\xff", "JFIF", "\x89PNG", "PNG\r\n\x1a\n")
# A run this long of base64 alphabet is not an id, a hash or a token of this product (a 64-hex
# sha256 is 64 characters): it is encoded data, e.g. an image.
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")
SEAT_KEY = re.compile(r"[\"']?\bseat(s|Number|Id)?\b[\"']?\s*[:=]\s*\d", re.IGNORECASE)


@dataclass(frozen=True)
class Output:
    """One collected text: where it came from, and which promises it is held to."""

    where: str
    text: str
    urls_allowed: bool = False  # the assignment file names URLs by contract; logs may too


@dataclass
class Scanner:
    secrets: tuple[str, ...]  # values that may appear nowhere
    urls: tuple[str, ...]  # camera URLs, allowed only where `urls_allowed`
    findings: list[str] = field(default_factory=list)

    def scan(self, outputs: Iterable[Output]) -> list[str]:
        found: list[str] = []
        for output in outputs:
            found.extend(f"{output.where}: {problem}" for problem in self._problems(output))
        self.findings.extend(found)
        return found

    def _problems(self, output: Output) -> Iterator[str]:
        text = output.text
        for secret in self.secrets:
            if secret in text:
                yield f"a secret value ({secret[:3]}...) appears"
        if not output.urls_allowed:
            for url in self.urls:
                if url in text:
                    yield f"the camera URL {url} appears"
        for url in self.urls:
            # A URL with a login spliced in, whatever the login.
            scheme, _, rest = url.partition("://")
            if re.search(re.escape(scheme) + r"://[^/\s\"'@]+@" + re.escape(rest), text):
                yield "a camera URL with a login appears"
        for marker in PIXEL_MARKERS:
            if marker in text:
                yield f"pixel data ({marker!r}) appears"
        run = BASE64_RUN.search(text)
        if run:
            yield f"a base64 run of {len(run.group())} characters appears"
        if SEAT_KEY.search(text):
            yield "a seat number appears"
        yield from _raw_students(text)


def _raw_students(text: str) -> Iterator[str]:
    """Every `student` value in the JSON documents of `text` is a pseudonymous id."""
    for document in _json_documents(text):
        for key, value in _items(document):
            if key == "student" and not (isinstance(value, str) and STUDENT_ID.match(value)):
                yield f"a raw student identifier {value!r} appears"


def _json_documents(text: str) -> Iterator[Any]:
    stripped = text.strip()
    candidates = [stripped] if stripped.startswith(("{", "[")) else []
    candidates += [line.removeprefix("data:").strip() for line in text.splitlines()
                   if line.strip().removeprefix("data:").strip().startswith("{")]
    for candidate in candidates:
        try:
            yield json.loads(candidate)
        except ValueError:
            continue


def _items(document: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(document, Mapping):
        for key, value in document.items():
            yield str(key), value
            yield from _items(value)
    elif isinstance(document, list):
        for item in document:
            yield from _items(item)
