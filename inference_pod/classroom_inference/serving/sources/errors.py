"""Why a stream cannot be read, as types the HTTP layer and the status document can map.

Every message names the stream's URL with any password removed, says what went wrong and, where
the user can act, what to change. Before a message leaves the pod (status document, logs) the
stream's id takes the place of the URL (urls.without_url).
"""

from __future__ import annotations

from typing import ClassVar


class StreamError(Exception):
    """A stream could not be opened or read. `reason` is a stable CamelCase code for status and
    metrics; `permanent` errors are not retried (the URL itself is wrong)."""

    reason: ClassVar[str] = "StreamError"
    permanent: ClassVar[bool] = False


class InvalidStreamUrl(StreamError, ValueError):
    reason = "InvalidUrl"
    permanent = True


class UnsupportedScheme(InvalidStreamUrl):
    reason = "UnsupportedScheme"


class UnsupportedCodec(StreamError):
    """The stream has no video, or its video codec has no decoder in this build of FFmpeg."""

    reason = "UnsupportedCodec"


class StreamUnavailable(StreamError):
    """The stream could not be opened: refused, not found, unauthorised, or no answer in time."""

    reason = "Unavailable"


class StreamStalled(StreamError):
    """An open stream sent no data for longer than the read timeout."""

    reason = "Stalled"


class InvalidStreamData(StreamError):
    """The server answered, but not with a stream FFmpeg can read (wrong port, broken camera)."""

    reason = "InvalidData"


class StreamEnded(StreamError):
    """A live stream ended: the camera or the server closed it."""

    reason = "Ended"
