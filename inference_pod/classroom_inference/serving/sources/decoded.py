"""rtsp, rtsps, http(s) and file streams, decoded by FFmpeg through PyAV in a thread each.

The thread hands every frame to the stream's intake itself (which crops it into the batcher), so
frames never queue for the event loop; the loop only learns how the stream ended. PyAV is
imported when a stream is first read, so a pod (or a benchmark) serving only synthetic streams
runs where FFmpeg is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
import time
from typing import Any

from ..frames import Frame, Intake
from .errors import (
    InvalidStreamData,
    StreamEnded,
    StreamError,
    StreamStalled,
    StreamUnavailable,
    UnsupportedCodec,
)
from .options import SourceOptions
from .urls import LIVE_SCHEMES, StreamUrl

# A few corrupt packets are normal on a lossy link; this many in a row means the stream is broken.
MAX_BAD_PACKETS = 50
# Pacing re-anchors when decoding falls this far behind the clock, instead of racing to catch up.
MAX_PACING_LAG_S = 1.0
# How long close() waits for the decoding thread. A thread blocked on a silent camera wakes only at
# its read timeout; it then exits by itself (it closes its own connection), so stopping many streams
# never waits read timeout after read timeout.
CLOSE_GRACE_S = 1.0


class DecodedSource:
    """One attempt at reading a stream. Make a new one to reconnect."""

    def __init__(self, stream_id: str, url: StreamUrl, options: SourceOptions) -> None:
        self.stream_id = stream_id
        self.url = url
        self.options = options
        self.live = url.scheme in LIVE_SCHEMES
        self.loop = url.scheme == "file" and _choose(options.loop, url.flag("loop"), False)
        self.realtime = not self.live and _choose(options.realtime, url.flag("realtime"), True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def run(self, intake: Intake) -> None:
        if self._thread is not None:
            raise RuntimeError(f"stream {self.stream_id}: a source is read once; open a new one")
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._decode, args=(intake, loop, ended), name=f"decode-{self.stream_id}",
            daemon=True,
        )
        self._thread.start()
        try:
            await ended
        finally:
            self._stop.set()

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, CLOSE_GRACE_S)

    # Everything below runs in the decoding thread.

    def _decode(self, intake: Intake, loop: asyncio.AbstractEventLoop,
                ended: asyncio.Future[None]) -> None:
        outcome: BaseException | None = None
        try:
            container = self._open()
            try:
                self._read(container, intake)
            finally:
                container.close()
        except StreamError as error:
            outcome = error
        except Exception as error:  # every failure becomes this stream's error, never the pod's
            outcome = self._explain(error)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(_settle, ended, outcome)

    def _open(self) -> Any:
        import av.error
        target = self.url.path if self.url.scheme == "file" else self.url.raw
        started = time.monotonic()
        try:
            return av.open(
                target,
                options=self._ffmpeg_options(),
                timeout=(self.options.open_timeout_s, self.options.read_timeout_s),
            )
        except av.error.FFmpegError as error:
            # An interrupted handshake surfaces as whatever the demuxer was doing (often
            # "invalid data"), so the clock, not the error type, tells a silent server apart.
            if time.monotonic() - started < self.options.open_timeout_s * 0.95:
                raise
            raise StreamUnavailable(
                f"{self.url.shown}: no answer within {self.options.open_timeout_s:g} s; "
                f"check that the camera or server is up and reachable"
            ) from error

    def _ffmpeg_options(self) -> dict[str, str]:
        micros = str(int(self.options.read_timeout_s * 1_000_000))
        if self.live:
            # TCP survives lossy school networks and firewalls that drop RTP over UDP.
            return {"rtsp_transport": "tcp", "timeout": micros}
        if self.url.scheme in ("http", "https"):
            return {"rw_timeout": micros}
        return {}

    def _read(self, container: Any, intake: Intake) -> None:
        import av.error
        stream = _video_stream(container, self.url.shown)
        index = 0
        bad = 0
        offset = 0.0  # seconds added to timestamps on each loop of a file
        anchor: float | None = None
        last_time = 0.0
        while not self._stop.is_set():
            for packet in container.demux(stream):
                if self._stop.is_set() or intake.closed:
                    return
                try:
                    decoded = packet.decode()
                    bad = 0
                except av.error.InvalidDataError as error:
                    bad += 1
                    if bad >= MAX_BAD_PACKETS:
                        raise InvalidStreamData(
                            f"{self.url.shown}: {bad} corrupt packets in a row ({error.strerror})"
                        ) from None
                    continue
                for frame in decoded:
                    stamp = offset + (frame.time if frame.time is not None else last_time)
                    last_time = stamp - offset
                    if self.realtime:
                        anchor = self._pace(anchor, stamp)
                    image = frame.to_ndarray(format="rgb24")
                    intake.frame(Frame(self.stream_id, image, time.monotonic(), index))
                    index += 1
            if self.live or self.url.scheme != "file":
                raise StreamEnded(f"{self.url.shown}: the stream ended (the server closed it)")
            if not self.loop or index == 0:
                return
            offset += last_time + _frame_period(stream)
            container.seek(0)

    def _pace(self, anchor: float | None, stamp: float) -> float:
        now = time.monotonic()
        if anchor is None or now - (anchor + stamp) > MAX_PACING_LAG_S:
            return now - stamp
        delay = anchor + stamp - now
        if delay > 0:
            self._stop.wait(delay)
        return anchor

    def _explain(self, error: Exception) -> StreamError:
        import av.error
        shown = self.url.shown
        detail = getattr(error, "strerror", None) or str(error) or type(error).__name__
        if isinstance(error, av.error.ExitError | TimeoutError):
            return StreamStalled(
                f"{shown}: no data for {self.options.read_timeout_s:g} s; "
                f"the camera stopped sending"
            )
        if isinstance(error, FileNotFoundError | av.error.HTTPNotFoundError):
            return StreamUnavailable(f"{shown}: not found ({detail}); check the path")
        if isinstance(error, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
            return StreamUnavailable(f"{shown}: access refused ({detail}); check the credentials")
        if isinstance(error, av.error.InvalidDataError):
            if self.url.scheme == "file":
                return InvalidStreamData(f"{shown}: not a video file FFmpeg can read ({detail})")
            return InvalidStreamData(
                f"{shown}: the server's answer is not a stream FFmpeg can read ({detail}); "
                f"check the URL's port and path"
            )
        if isinstance(error, av.error.DecoderNotFoundError):
            return UnsupportedCodec(f"{shown}: no decoder for this stream's video ({detail})")
        if isinstance(error, OSError) and error.errno in _UNREACHABLE:
            return StreamUnavailable(f"{shown}: cannot connect ({detail})")
        return StreamUnavailable(f"{shown}: {detail}")


_UNREACHABLE = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


def _settle(ended: asyncio.Future[None], outcome: BaseException | None) -> None:
    if ended.done():  # the reader was cancelled
        return
    if outcome is None:
        ended.set_result(None)
    else:
        ended.set_exception(outcome)


def _choose(option: bool | None, from_url: bool | None, default: bool) -> bool:
    if option is not None:
        return option
    return default if from_url is None else from_url


def _video_stream(container: Any, shown: str) -> Any:
    import av.codec.codec
    if not container.streams.video:
        kinds = sorted({f"{s.type} {_codec_name(s)}" for s in container.streams})
        carried = ", ".join(kinds) if kinds else "nothing"
        raise UnsupportedCodec(
            f"{shown}: no video stream (it carries {carried}); point the URL at a camera's video"
        )
    stream = container.streams.video[0]
    name = _codec_name(stream)
    try:
        av.Codec(name, "r")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise UnsupportedCodec(
            f"{shown}: video codec {name!r} has no decoder in this FFmpeg build; "
            f"configure the camera for H.264, H.265 or MJPEG"
        ) from None
    return stream


def _codec_name(stream: Any) -> str:
    context = getattr(stream, "codec_context", None)
    name = getattr(context, "name", None)
    return str(name) if name else "unknown"


def _frame_period(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return float(1 / rate) if rate else 1 / 30
