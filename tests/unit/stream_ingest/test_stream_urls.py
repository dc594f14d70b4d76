"""A URL that can never work fails at once; the message names the problem and the fix."""

from __future__ import annotations

import pytest
from classroom_inference.serving.sources import (
    DecodedSource,
    InvalidStreamUrl,
    SourceOptions,
    StreamError,
    SyntheticSource,
    UnsupportedScheme,
    mask_password,
    open_source,
    parse_stream_url,
)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("camera.school.lan/room-101", "no scheme"),
        ("/videos/room.mp4", "no scheme"),
        ("rtsp://cam /x", "whitespace"),
        ("rtsp:///room-101", "no host"),
        ("http://", "no host"),
        ("rtsp://cam:99999/x", "malformed"),
        ("rtsp://cam:port/x", "malformed"),
        ("rtsp://cam:0/x", "port 0"),
        ("file://server/share/room.mp4", "not host 'server'"),
        ("file:room.mp4", "no scheme"),
        ("file:///videos/", "folder"),
        ("file:///videos/room.mp4?loop=maybe", "loop=1 or loop=0"),
        ("synthetic://s?fps=0", "'fps'"),
        ("synthetic://s?width=abc", "'width'"),
        ("synthetic://s?pattern=220:10,dark:5", "pattern step 'dark:5'"),
        ("synthetic://s?pattern=300:1", "level 0-255"),
        ("synthetic://s?pattern=200:1&brightness=40", "either brightness or pattern"),
    ],
)
def test_malformed_url_is_refused_with_the_fix(url: str, words: str) -> None:
    with pytest.raises(InvalidStreamUrl) as caught:
        open_source("room-101-0", url)
    assert words in str(caught.value)
    assert caught.value.permanent
    assert caught.value.reason == "InvalidUrl"


@pytest.mark.parametrize("url", ["udp://239.0.0.1:5000", "rtmp://cam/live", "s3://bucket/x.mp4"])
def test_unsupported_scheme_names_the_supported_ones(url: str) -> None:
    with pytest.raises(UnsupportedScheme) as caught:
        open_source("s", url)
    message = str(caught.value)
    assert repr(url.split(":")[0]) in message
    assert "rtsp, rtsps, http, https, file, synthetic" in message
    assert caught.value.reason == "UnsupportedScheme"
    assert isinstance(caught.value, StreamError) and caught.value.permanent


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(InvalidStreamUrl) as caught:
        open_source("s", "rtsp://admin:s3cret@cam:99999/x")
    assert "s3cret" not in str(caught.value)
    assert "admin:***@cam" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:pa:ss@cam.lan:554/h264", "rtsp://admin:***@cam.lan:554/h264"),
        ("rtsps://u:p@10.0.0.5/live?x=1", "rtsps://u:***@10.0.0.5/live?x=1"),
        ("rtsp://cam.lan/live", "rtsp://cam.lan/live"),
        ("rtsp://user@cam.lan/live", "rtsp://user@cam.lan/live"),
    ],
)
def test_mask_password(url: str, shown: str) -> None:
    assert mask_password(url) == shown


def test_scheme_picks_the_source() -> None:
    assert isinstance(open_source("s", "synthetic://bench?fps=30"), SyntheticSource)
    for url in ("rtsp://cam/x", "RTSPS://cam/x", "http://cam/x.mjpg", "file:///v/room.mp4"):
        assert isinstance(open_source("s", url), DecodedSource)


def test_file_query_gives_options_and_explicit_options_win() -> None:
    looped = open_source("s", "file:///v/room.mp4?loop=1&realtime=no")
    assert isinstance(looped, DecodedSource)
    assert looped.loop and not looped.realtime
    told = open_source("s", "file:///v/room.mp4?loop=1", SourceOptions(loop=False))
    assert isinstance(told, DecodedSource) and not told.loop
    default = open_source("s", "file:///v/room.mp4")
    assert isinstance(default, DecodedSource) and not default.loop and default.realtime


def test_live_streams_are_never_paced_or_looped() -> None:
    live = open_source("s", "rtsp://cam/x", SourceOptions(loop=True, realtime=True))
    assert isinstance(live, DecodedSource)
    assert live.live and not live.loop and not live.realtime


def test_file_url_path_is_unquoted() -> None:
    assert parse_stream_url("file:///videos/room%20101.mp4").path == "/videos/room 101.mp4"


@pytest.mark.parametrize("field", ["open_timeout_s", "read_timeout_s"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=f"SourceOptions.{field} is 0"):
        SourceOptions(**{field: 0})  # type: ignore[arg-type]


def test_without_url_names_the_stream_by_its_id() -> None:
    from classroom_inference.serving.sources import without_url

    url = "rtsp://viewer:p%40ss-word@cam.school.lan:554/room?x=1"
    said = ("rtsp://viewer:***@cam.school.lan:554/room?x=1: cannot connect; "
            "the server at cam.school.lan:554 refused the password p@ss-word")
    text = without_url(said, url, "room-101-0")
    assert text == ("stream room-101-0: cannot connect; the server at stream room-101-0 "
                    "refused the password ***")
    for leaked in ("p@ss-word", "p%40ss-word", "cam.school.lan", "viewer"):
        assert leaked not in text, text
    path = "file:///recordings/room-7.mp4"
    assert without_url("/recordings/room-7.mp4: not found", path, "r7") == "stream r7: not found"


def test_a_file_url_with_a_host_is_refused_without_its_password() -> None:
    with pytest.raises(InvalidStreamUrl) as caught:
        parse_stream_url("file://viewer:s3cret@camhost/x.mp4")
    assert "s3cret" not in str(caught.value) and "'viewer:***@camhost'" in str(caught.value)
