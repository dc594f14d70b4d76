from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from classroom_inference.serving.credentials import (
    Credentials,
    StreamCredentials,
    with_credentials,
)

from .conftest import SecretVolume

PASSWORD = "p@ss:w/rd#?%ö"


def test_credentials_are_percent_encoded_into_the_url_and_replace_any_there() -> None:
    given = Credentials("dom\\cam user", PASSWORD)
    url = with_credentials("rtsps://old:secret@cam.school.lan:322/room-101?tcp=1", given)
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path, parts.query) == (
        "rtsps", "cam.school.lan", 322, "/room-101", "tcp=1")
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == (
        "dom\\cam user", PASSWORD)
    assert "old" not in url and "secret" not in url
    for scheme in ("rtsp", "http", "https"):
        assert with_credentials(f"{scheme}://cam/x", Credentials("u", "p")) == f"{scheme}://u:p@cam/x"


def test_the_password_is_never_in_a_repr() -> None:
    assert PASSWORD not in repr(Credentials("cam", PASSWORD))


def test_the_file_is_followed_and_changed_streams_are_named(volume: SecretVolume) -> None:
    followed = StreamCredentials(volume.path)
    assert followed.check() == set()
    assert followed.error is not None and "cannot read the stream credentials file" in (
        followed.error)
    volume.write({"room-101-0": {"username": "cam", "password": "one"},
                  "room-102-0": {"username": "cam", "password": "two"}})
    assert followed.check() == {"room-101-0", "room-102-0"}
    assert followed.error is None
    assert followed.status() == {"streams": 2, "error": None}
    volume.write({"room-101-0": {"username": "cam", "password": "one"},
                  "room-102-0": {"username": "cam", "password": "2wo"},
                  "room-103-0": {"username": "cam", "password": "three"}})
    assert followed.check() == {"room-102-0", "room-103-0"}
    assert followed.check() == set()  # unchanged
    volume.write({"room-101-0": {"username": "cam", "password": "one"}})
    assert followed.check() == {"room-102-0", "room-103-0"}  # taken away


@pytest.mark.parametrize(("content", "named"), [
    ("{not json", "is not UTF-8 JSON"),
    ('["room-101-0"]', "must be a JSON object"),
    ('{"room-101-0": "cam:one"}', "entry 'room-101-0' must be an object"),
    ('{"room-101-0": {"username": "cam"}}', "entry 'room-101-0': password is missing"),
    ('{"room-101-0": {"username": "cam", "password": 7}}', "password is not a string"),
    ('{"room-101-0": {"username": "", "password": "hunter22"}}', "username is empty"),
])
def test_a_bad_file_is_reported_and_the_last_good_credentials_stay(
        volume: SecretVolume, content: str, named: str) -> None:
    followed = StreamCredentials(volume.path)
    volume.write({"room-101-0": {"username": "cam", "password": "one"}})
    followed.check()
    volume.write(content)
    assert followed.check() == set()
    assert followed.error is not None and named in followed.error
    assert str(volume.path) in followed.error
    assert "hunter22" not in followed.error and "cam:one" not in followed.error
    assert followed.current == {"room-101-0": Credentials("cam", "one")}
    volume.write({"room-101-0": {"username": "cam", "password": "one"}})
    assert followed.check() == set() and followed.error is None  # the good file again


def test_without_the_flag_nothing_is_followed() -> None:
    followed = StreamCredentials(None)
    assert not followed.configured and followed.check() == set() and followed.error is None
