"""Fetching checks the bytes it hands on: sha256 first, a size cap, retries only where they help."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from classroom_inference.builder.errors import ChecksumMismatch, FetchFailed, TooLarge
from classroom_inference.builder.fetch import FetchPolicy, fetch
from unit.engine_build.kit import HttpServer

DATA = b"onnx bytes " * 100
SHA = hashlib.sha256(DATA).hexdigest()
FIELD = "spec.model.uri"


def test_https_download_verified(server: HttpServer, policy: FetchPolicy, tmp_path: Path) -> None:
    server.file("/m/face.onnx", DATA)
    path = fetch(server.url + "/m/face.onnx", tmp_path / "work", field=FIELD, policy=policy,
                 expected_sha256=SHA)
    assert path.read_bytes() == DATA and path.name == "face.onnx"


def test_server_errors_are_retried(server: HttpServer, policy: FetchPolicy,
                                   tmp_path: Path) -> None:
    server.file("/m/face.onnx", DATA, failures=2)
    path = fetch(server.url + "/m/face.onnx", tmp_path / "work", field=FIELD, policy=policy)
    assert path.read_bytes() == DATA and server.hits["/m/face.onnx"] == 3


def test_server_errors_beyond_the_retries_are_transient(server: HttpServer, policy: FetchPolicy,
                                                        tmp_path: Path) -> None:
    server.file("/m/face.onnx", DATA, failures=5)
    with pytest.raises(FetchFailed, match="after 3 attempts") as failure:
        fetch(server.url + "/m/face.onnx", tmp_path / "work", field=FIELD, policy=policy)
    assert failure.value.permanent is False and failure.value.exit_code == 1
    assert not list((tmp_path / "work").iterdir())


def test_content_length_over_the_cap_is_refused_before_reading(
        server: HttpServer, policy: FetchPolicy, tmp_path: Path) -> None:
    server.file("/m/big.onnx", DATA)
    small = dataclasses.replace(policy, max_bytes=100)
    with pytest.raises(TooLarge, match="100 byte cap") as failure:
        fetch(server.url + "/m/big.onnx", tmp_path / "work", field=FIELD, policy=small)
    assert failure.value.permanent is True


def test_s3_is_a_path_style_get_on_the_endpoint(server: HttpServer, policy: FetchPolicy,
                                                tmp_path: Path) -> None:
    server.file("/district-models/face/v3.onnx", DATA)
    s3 = dataclasses.replace(policy, s3_endpoint=server.url)
    path = fetch("s3://district-models/face/v3.onnx", tmp_path / "work", field=FIELD, policy=s3,
                 expected_sha256=SHA)
    assert path.read_bytes() == DATA


def test_missing_local_file_is_permanent(policy: FetchPolicy, tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="does not exist") as failure:
        fetch((tmp_path / "nope.onnx").as_uri(), tmp_path / "work", field=FIELD, policy=policy)
    assert failure.value.permanent is True


def test_local_file_over_the_cap(policy: FetchPolicy, tmp_path: Path) -> None:
    big = tmp_path / "big.onnx"
    big.write_bytes(DATA)
    with pytest.raises(TooLarge, match="CLASSROOM_FETCH_MAX_BYTES"):
        fetch(big.as_uri(), tmp_path / "work", field=FIELD,
              policy=dataclasses.replace(policy, max_bytes=10))


def test_checksum_names_the_sha_field(policy: FetchPolicy, tmp_path: Path) -> None:
    source = tmp_path / "faces.tar.gz"
    source.write_bytes(DATA + b"changed")
    with pytest.raises(ChecksumMismatch, match=r"spec\.engine\.calibration\.sha256"):
        fetch(source.as_uri(), tmp_path / "work", field="spec.engine.calibration.uri",
              policy=policy, expected_sha256=SHA)


def test_a_folder_is_read_in_place_but_cannot_be_pinned(policy: FetchPolicy,
                                                        tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    assert fetch(folder.as_uri(), tmp_path / "work", field=FIELD, policy=policy,
                 folder_ok=True) == folder
    with pytest.raises(FetchFailed, match=r"pack it as \.tar\.gz"):
        fetch(folder.as_uri(), tmp_path / "work", field=FIELD, policy=policy,
              expected_sha256=SHA, folder_ok=True)


def test_policy_from_the_environment() -> None:
    policy = FetchPolicy.from_env({"CLASSROOM_FETCH_TIMEOUT_SECONDS": "7",
                                   "CLASSROOM_FETCH_RETRIES": "0",
                                   "CLASSROOM_FETCH_MAX_BYTES": "123",
                                   "CLASSROOM_FETCH_DEADLINE_SECONDS": "90",
                                   "CLASSROOM_S3_ENDPOINT": "http://minio.storage:9000/"})
    assert policy == FetchPolicy(timeout_s=7.0, retries=0, max_bytes=123, deadline_s=90.0,
                                 s3_endpoint="http://minio.storage:9000")


def test_a_bad_policy_variable_is_named() -> None:
    from classroom_inference.builder.errors import InvalidSpec

    with pytest.raises(InvalidSpec, match="CLASSROOM_FETCH_"):
        FetchPolicy.from_env({"CLASSROOM_FETCH_RETRIES": "three"})
