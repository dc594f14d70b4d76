"""What a download must not do: reach metadata addresses, read devices, hang for ever, or retry
what retrying cannot fix. Each refusal is permanent and names the field, except the deadline."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from classroom_inference.builder import addresses
from classroom_inference.builder.errors import FetchFailed
from classroom_inference.builder.fetch import FetchPolicy, fetch
from unit.engine_build.kit import HttpServer

FIELD = "spec.model.uri"
DATA = b"onnx bytes " * 100


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hosts the builder opens a socket to, recorded (connections still happen)."""
    opened: list[str] = []
    real = socket.create_connection

    def record(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(addresses.socket, "create_connection", record)
    return opened


def _refused(uri: str, policy: FetchPolicy, work: Path, *words: str) -> FetchFailed:
    with pytest.raises(FetchFailed) as failure:
        fetch(uri, work, field=FIELD, policy=policy)
    message = str(failure.value)
    assert message.startswith(FIELD + ":"), message
    for word in words:
        assert word in message, message
    assert failure.value.permanent is True and failure.value.exit_code == 2
    return failure.value


def test_a_redirect_to_the_metadata_address_is_refused_without_connecting(
        server: HttpServer, policy: FetchPolicy, tmp_path: Path, connections: list[str]) -> None:
    server.redirect("/m/face.onnx", "http://169.254.169.254/latest/meta-data/iam/")
    _refused(server.url + "/m/face.onnx", policy, tmp_path / "work", "169.254.169.254",
             "metadata address")
    assert connections == ["127.0.0.1"]  # the first hop only
    assert server.hits["/m/face.onnx"] == 1  # not retried


def test_a_host_that_resolves_to_link_local_is_refused_at_any_hop(
        server: HttpServer, policy: FetchPolicy, tmp_path: Path, connections: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = addresses.resolve
    names = {"metadata.cloud.internal": ["10.0.0.7", "169.254.169.254"],
             "mapped.cloud.internal": ["::ffff:169.254.169.254"]}
    monkeypatch.setattr(addresses, "resolve",
                        lambda host, port: names.get(host) or real(host, port))
    port = server.server.server_port
    server.redirect("/m/face.onnx", f"http://metadata.cloud.internal:{port}/m/real.onnx")
    _refused(server.url + "/m/face.onnx", policy, tmp_path / "work",
             "metadata.cloud.internal resolves to 169.254.169.254")
    _refused(f"http://mapped.cloud.internal:{port}/m/real.onnx", policy, tmp_path / "work",
             "::ffff:169.254.169.254")
    assert "10.0.0.7" not in connections and connections == ["127.0.0.1"]


@pytest.mark.parametrize("address", [
    "169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0", "0.0.0.0", "0.1.2.3", "::",
    "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::169.254.169.254", "fd00:ec2::254",
    "100.100.100.200"])
def test_link_local_and_metadata_addresses_are_forbidden(address: str) -> None:
    assert addresses.forbidden(address)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "::1", "fd12:3456::1", "8.8.8.8",
    "::ffff:10.0.0.1", "2001:db8::1"])
def test_loopback_private_and_public_addresses_are_allowed(address: str) -> None:
    assert not addresses.forbidden(address)


def test_an_allowed_redirect_is_still_followed(server: HttpServer, policy: FetchPolicy,
                                               tmp_path: Path) -> None:
    server.file("/m/real.onnx", DATA)
    server.redirect("/m/face.onnx", "/m/real.onnx", code=301)
    path = fetch(server.url + "/m/face.onnx", tmp_path / "work", field=FIELD, policy=policy)
    assert path.read_bytes() == DATA


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/face.onnx"])
def test_a_redirect_to_another_scheme_is_permanent(server: HttpServer, policy: FetchPolicy,
                                                   tmp_path: Path, location: str) -> None:
    server.redirect("/m/face.onnx", location)
    _refused(server.url + "/m/face.onnx", policy, tmp_path / "work", location,
             "http:// and https:// only")
    assert server.hits["/m/face.onnx"] == 1


@pytest.mark.parametrize("tail", ["/m/face .onnx", "/m/face.onnx\r\nX-Evil: 1", "/m/\tface"])
def test_whitespace_or_control_characters_in_the_url_are_permanent(
        server: HttpServer, policy: FetchPolicy, tmp_path: Path, tail: str) -> None:
    _refused(server.url + tail, policy, tmp_path / "work", "space or control character",
             "%20")
    assert server.hits == {}


def test_a_device_is_refused_before_reading(policy: FetchPolicy, tmp_path: Path) -> None:
    big = dataclasses.replace(policy, max_bytes=2 << 30)
    _refused("file:///dev/zero", big, tmp_path / "work", "a character device",
             "not a regular file")
    assert list((tmp_path / "work").iterdir()) == []


def test_a_fifo_is_refused_without_opening_it(policy: FetchPolicy, tmp_path: Path) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)  # opening it would block: no writer
    _refused(fifo.as_uri(), policy, tmp_path / "work", "a FIFO")


def test_a_folder_where_a_file_is_expected(policy: FetchPolicy, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    _refused(folder.as_uri(), policy, tmp_path / "work", "is a folder",
             "the URL of the file itself")


def test_a_dripping_server_is_stopped_at_the_fetch_deadline(
        server: HttpServer, policy: FetchPolicy, tmp_path: Path) -> None:
    # Each byte comes well inside the per-read timeout, so only the deadline can stop it.
    server.drip("/m/face.onnx", size=10_000, interval=0.05)
    slow = dataclasses.replace(policy, timeout_s=2.0, deadline_s=0.5)
    with pytest.raises(FetchFailed) as failure:
        fetch(server.url + "/m/face.onnx", tmp_path / "work", field=FIELD, policy=slow)
    message = str(failure.value)
    assert message.startswith(FIELD) and "CLASSROOM_FETCH_DEADLINE_SECONDS (0.5 s" in message
    assert failure.value.permanent is False and failure.value.exit_code == 1
    assert list((tmp_path / "work").iterdir()) == []


def test_through_a_proxy_the_target_is_checked_too(server: HttpServer, policy: FetchPolicy,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("http_proxy", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _refused("http://169.254.169.254/latest/meta-data/", policy, tmp_path / "work",
             "169.254.169.254")
    assert server.hits == {}  # the proxy was never asked
