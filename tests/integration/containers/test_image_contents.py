"""What the built images carry, read from their OCI archives: the venv and the interpreter, no
build tools, only their own plane's package, every wheel the one its lock file pins, and the
lock files themselves in step with pyproject.toml's extras."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.containers.conftest import IMAGE_TOOLS
from localcluster.images import (
    INFERENCE,
    LOCKS,
    OPERATOR,
    REPO,
    ImageSpec,
    Lock,
    ensure_image,
    extra_requirements,
)

SITE = re.compile(r"^opt/venv/lib/python3\.\d+/site-packages/")
BUILD_TOOLS = ("usr/bin/gcc", "usr/bin/cc", "usr/bin/make", "usr/bin/x86_64-linux-gnu-gcc-12",
               "opt/venv/bin/pip")


def _layer_paths(archive: Path) -> Iterator[str]:
    """Every path of every layer of the archive's one image (whiteouts included)."""
    with tarfile.open(archive) as outer:
        def read(name: str) -> bytes:
            member = outer.extractfile(name)
            assert member is not None, name
            return member.read()

        def blob(digest: str) -> bytes:
            return read(f"blobs/sha256/{digest.removeprefix('sha256:')}")

        index = json.loads(read("index.json"))
        [entry] = index["manifests"]
        manifest = json.loads(blob(entry["digest"]))
        for layer in manifest["layers"]:
            data = blob(layer["digest"])
            if layer["mediaType"].endswith("gzip"):
                data = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                for name in inner.getnames():
                    yield name.removeprefix("./")


def _packages(paths: set[str]) -> set[str]:
    """Top-level names under the venv's site-packages."""
    return {SITE.sub("", p).split("/")[0] for p in paths if SITE.match(p)} - {""}


@pytest.fixture(scope="module", params=[OPERATOR, INFERENCE], ids=lambda s: s.name)
def image(request: pytest.FixtureRequest) -> tuple[ImageSpec, set[str]]:
    missing = [tool for tool in IMAGE_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"this machine cannot build images: it lacks {', '.join(missing)} "
                    "(apt-get install buildah podman mmdebstrap)")
    spec: ImageSpec = request.param
    return spec, set(_layer_paths(ensure_image(spec).archive))


def test_the_runtime_carries_the_venv_and_no_build_tools(image: tuple[ImageSpec, set[str]]
                                                         ) -> None:
    spec, paths = image
    assert "usr/bin/python3" in paths or "usr/bin/python3.11" in paths
    assert any(p.startswith("opt/venv/bin/classroom-") for p in paths)
    present = [tool for tool in BUILD_TOOLS if tool in paths]
    assert not present, f"{spec.name} carries build tools: {present}"
    packages = _packages(paths)
    assert not packages & {"pip", "setuptools", "wheel"}, packages


def test_each_image_holds_its_own_plane_only(image: tuple[ImageSpec, set[str]]) -> None:
    spec, paths = image
    packages = _packages(paths)
    own, other = (("classroom_operator", "classroom_inference") if spec is OPERATOR
                  else ("classroom_inference", "classroom_operator"))
    assert own in packages and other not in packages


def test_the_wheels_installed_are_the_ones_the_lock_pins(image: tuple[ImageSpec, set[str]]
                                                         ) -> None:
    spec, paths = image
    installed = {m.group(1).lower().replace("_", "-") + "==" + m.group(2)
                 for p in paths if (m := re.match(SITE.pattern + r"([^/-]+)-([^/]+)\.dist-info/$",
                                                  p + ("/" if not p.endswith("/") else "")))}
    pinned = {line.split(" ")[0].lower().replace("_", "-")
              for line in (REPO / spec.lock).read_text().splitlines()
              if line and not line.startswith("#")}
    build_only = {p for p in pinned if p.split("==")[0] in ("pip", "setuptools", "wheel")}
    project = {p for p in installed if p.startswith("classroom-operator==")}
    assert installed - project == pinned - build_only


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.path)
def test_lock_files_follow_the_extras_and_pin_every_wheel_by_hash(lock: Lock) -> None:
    lines = [ln for ln in (REPO / lock.path).read_text().splitlines()
             if ln and not ln.startswith("#")]
    pins = {}
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==\S+ --hash=sha256:[0-9a-f]{64}", line), line
        name, version = line.split(" ")[0].split("==")
        pins[name.lower().replace("_", "-")] = version
    for requirement in extra_requirements(lock.extras, lock.swap):
        if "==" in requirement:
            name, version = requirement.split("==")
            assert pins.get(name.lower().replace("_", "-")) == version, (
                f"{lock.path} pins {name} {pins.get(name.lower())}, pyproject.toml {version}: "
                "regenerate with `python -m localcluster.images lock` from tests/")
    with (REPO / "pyproject.toml").open("rb") as handle:
        assert set(lock.extras) <= set(tomllib.load(handle)["project"]["optional-dependencies"])
