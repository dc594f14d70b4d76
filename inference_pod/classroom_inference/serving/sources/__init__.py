"""Stream sources: `open_source(stream_id, url)` picks one by the URL's scheme.

rtsp, rtsps, http, https and file go through FFmpeg (PyAV), decoded in a thread per stream;
synthetic:// generates frames for benchmarks. Opening only checks the URL: the connection is made
when frames are first read, so a bad URL fails here and a bad camera fails in `frames()`.
"""

from __future__ import annotations

from ..frames import Source
from .decoded import DecodedSource
from .errors import (
    InvalidStreamData,
    InvalidStreamUrl,
    StreamEnded,
    StreamError,
    StreamStalled,
    StreamUnavailable,
    UnsupportedCodec,
    UnsupportedScheme,
)
from .options import SourceOptions
from .synthetic import BrightnessPattern, SyntheticSource
from .urls import SCHEMES, StreamUrl, mask_password, parse_stream_url

__all__ = [
    "SCHEMES",
    "BrightnessPattern",
    "DecodedSource",
    "InvalidStreamData",
    "InvalidStreamUrl",
    "SourceOptions",
    "StreamEnded",
    "StreamError",
    "StreamStalled",
    "StreamUnavailable",
    "StreamUrl",
    "SyntheticSource",
    "UnsupportedCodec",
    "UnsupportedScheme",
    "mask_password",
    "open_source",
    "parse_stream_url",
]


def open_source(stream_id: str, url: str, options: SourceOptions | None = None) -> Source:
    """A fresh, unopened source for one attempt at reading the stream.

    Raises InvalidStreamUrl (or UnsupportedScheme) at once for a URL that can never work.
    """
    checked = parse_stream_url(url)
    chosen = options or SourceOptions()
    if checked.scheme == "synthetic":
        return SyntheticSource(stream_id, checked, chosen)
    return DecodedSource(stream_id, checked, chosen)
