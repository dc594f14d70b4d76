"""Stream sources: `open_source(stream_id, url)` picks one by the URL's scheme.

    rtsp://[user:password@]camera[:554]/path    live, over TCP; never paced or looped
    rtsps://...                                 the same over TLS (FFmpeg's default: the
                                                camera's certificate is not verified)
    http(s)://host/path                         live too (MJPEG, a recording served over
                                                HTTP): its end is an error and reconnects
    file:///absolute/path.mp4[?loop=1][&realtime=0]
                                                paced at the file's frame rate unless
                                                realtime=0; ends, or starts again with loop=1
    synthetic://name[?fps=30&width=224&height=224&brightness=128|pattern=220:10,40:35]
                    [&frames=N][&realtime=0]    generated frames for benchmarks

rtsp, rtsps, http(s) and file go through FFmpeg (PyAV), decoded in a thread per stream.
Opening only checks the URL: the connection is made when frames are first read, so a bad URL fails
here and a bad camera fails in `frames()`, each with a typed StreamError.
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
from .urls import (
    SCHEMES,
    StreamUrl,
    mask_password,
    parse_stream_url,
    without_password,
    without_url,
)

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
    "without_password",
    "without_url",
]


def open_source(stream_id: str, url: str | StreamUrl,
                options: SourceOptions | None = None) -> Source:
    """A fresh, unopened source for one attempt at reading the stream.

    Raises InvalidStreamUrl (or UnsupportedScheme) at once for a URL that can never work. A
    checked StreamUrl is taken as it is: its `raw` may carry credentials its `shown` leaves out.
    """
    checked = url if isinstance(url, StreamUrl) else parse_stream_url(url)
    chosen = options or SourceOptions()
    if checked.scheme == "synthetic":
        return SyntheticSource(stream_id, checked, chosen)
    return DecodedSource(stream_id, checked, chosen)
