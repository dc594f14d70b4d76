"""Camera logins reach only the pods that serve the stream, through the pool's own Secret; the
assignment and status never hold them (docs/contracts.md, "Camera credentials")."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest
from classroom_inference.serving.credentials import parse_credentials
from classroom_operator.engines.inventory import GpuClass, InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.rollout.classrooms import (
    ClassroomResource,
    Room,
    Selection,
    classroom_from_resource,
    select_rooms,
)
from classroom_operator.rollout.credentials import (
    CameraLogin,
    LoginLookup,
    credentials_condition,
    login_from_secret,
    pool_credentials,
    secrets_named,
)
from classroom_operator.rollout.planning import Rollout, SecretsRead, plan_rollout
from classroom_operator.rollout.pools import Pool, credentials_secret, pool_name, statefulset
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, Stream, parse_model
from classroom_operator.spec.pod_settings import PodSettings
from unit.pool_rollout.conftest import MODEL
from unit.pool_rollout.world import World

A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
L4 = GpuClass("NVIDIA-L4", "8.9", 550)
FP = {A100.name: "aaaa000000000000", L4.name: "bbbb000000000000"}
PASSWORD = "s3cret-Pa55word!"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret_data(username: str = "viewer", password: str = PASSWORD) -> dict[str, str]:
    return {"username": _b64(username), "password": _b64(password)}


def _rooms() -> Selection:
    """Four rooms; room-1 and room-2 need a login, room-2's second stream its own."""
    rooms = []
    for i in range(4):
        login = "cams-a" if i in (1, 2) else None
        streams = [Stream(f"rtsp://cams.lan/{i}", "per-student", login)]
        if i == 2:
            streams.append(Stream("rtsp://cams.lan/2b", "room", "cams-b"))
        rooms.append(Room(f"room-{i}", tuple(streams)))
    return Selection(tuple(rooms))


def _plan(spec: ModelSpec, pod_settings: PodSettings, settings: Settings, world: World,
          lookups: Mapping[str, LoginLookup]) -> Rollout:
    records = [EngineRecord(fingerprint=FP[g.name], gpu_class=g.name, backend="tensorrt",
                            state="Ready",
                            figures={"throughput": {"batch": 8, "cropsPerSecond": 1000.0}})
               for g in (A100, L4)]
    view = InventoryView(classes={g.name: g for g in (A100, L4)},
                         nodes_by_class={g.name: (f"node-{g.name[:8]}",) for g in (A100, L4)})
    return plan_rollout(MODEL, generation=1, spec=spec, pod_settings=pod_settings,
                        records=records, view=view, selection=_rooms(),
                        cluster=world.cluster(), settings=settings, now=1_795_000_000.0,
                        secrets=SecretsRead(logins=lookups))


def _streams_json(data: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(data["streams.json"]))
    return document


def test_a_login_is_read_from_the_secrets_username_and_password() -> None:
    found = login_from_secret("cams-a", _secret_data())
    assert found == CameraLogin("viewer", PASSWORD)
    assert PASSWORD not in repr(found)


@pytest.mark.parametrize(("data", "problem"), [
    (None, "Secret cams-a not found"),
    ({"username": _b64("viewer")}, "Secret cams-a has no key password"),
    ({}, "Secret cams-a has no key username and password"),
    ({"username": "", "password": _b64("x")}, "Secret cams-a: key username is empty"),
    ({"username": _b64("viewer"), "password": base64.b64encode(b"\xff\xfe").decode()},
     "Secret cams-a: key password is not UTF-8 text"),
])
def test_a_missing_secret_or_key_is_named_without_a_value(
        data: dict[str, str] | None, problem: str) -> None:
    found = login_from_secret("cams-a", data)
    assert isinstance(found, str) and found.startswith(problem)


def test_each_pool_secret_holds_only_the_logins_of_its_own_streams(
        spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
    lookups = {"cams-a": login_from_secret("cams-a", _secret_data()),
               "cams-b": login_from_secret("cams-b", _secret_data("room-cam", "other-pass-99"))}
    world = World()
    result = _plan(spec, pod_settings, settings, world, lookups)
    world.apply(result)
    pools = sorted(pool_name("attention", fp) for fp in FP.values())
    assert sorted(w.name for w in result.secrets) == [f"{p}-credentials" for p in pools]
    written: dict[str, set[str]] = {}
    for write in result.secrets:
        pool = write.name.removesuffix("-credentials")
        document = _streams_json(write.data)
        rooms_here = world.rooms_on(pool)
        # Exactly the streams of this pool's rooms that name a Secret; nothing of other pools.
        assert set(document) == {stream for stream in ("room-1-0", "room-2-0", "room-2-1")
                                 if stream.rsplit("-", 1)[0] in rooms_here}
        written[pool] = set(document)
        for stream_id, entry in document.items():
            assert entry == ({"username": "room-cam", "password": "other-pass-99"}
                             if stream_id == "room-2-1" else
                             {"username": "viewer", "password": PASSWORD})
        # The pod's own parser takes the file the operator writes.
        assert set(parse_credentials(document)) == set(document)
        assert write.create is not None
        assert write.create["metadata"]["name"] == write.name
        assert write.create["metadata"]["ownerReferences"][0]["kind"] == "ClassroomModel"
        assert write.create["metadata"]["labels"]["classroom-operator.io/pool"] == pool
        assert write.create["data"] == write.data
    assert set().union(*written.values()) == {"room-1-0", "room-2-0", "room-2-1"}
    # Both pools serve rooms, so "only its own" was put to the test.
    assert all(world.rooms_on(pool) for pool in pools)
    assert written[pools[0]] != written[pools[1]]
    # The assignment files carry stream ids and URLs, never a login.
    for write in result.configmaps:
        assert PASSWORD not in write.text and "other-pass-99" not in write.text
        assert "viewer" not in write.text
    credentials = next(c for c in result.conditions if c.type == "CameraCredentials")
    assert (credentials.status, credentials.reason) == ("True", "Resolved")


def test_a_missing_secret_leaves_the_stream_assigned_and_named_in_status(
        spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
    lookups = {"cams-a": login_from_secret("cams-a", _secret_data()),
               "cams-b": login_from_secret("cams-b", None)}
    world = World()
    result = _plan(spec, pod_settings, settings, world, lookups)
    world.apply(result)
    listed = set().union(*(world.rooms_on(p) for p in world.pools))
    assert listed == {"room-0", "room-1", "room-2", "room-3"}
    logins = set().union(*(_streams_json(w.data) for w in result.secrets))
    assert logins == {"room-1-0", "room-2-0"}
    condition = next(c for c in result.conditions if c.type == "CameraCredentials")
    assert (condition.status, condition.reason) == ("False", "CredentialsMissing")
    assert "stream room-2-1: Secret cams-b not found" in condition.message
    assert "1 of 3 streams" in condition.message
    assert PASSWORD not in condition.message and "viewer" not in condition.message


def test_without_logins_every_pool_still_gets_an_empty_file(
        spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
    result = _plan(spec, pod_settings, settings, World(), {})
    assert [_streams_json(w.data) for w in result.secrets] == [{}, {}]


def test_secrets_named_once_stream_ref_wins_over_the_room() -> None:
    spec = parse_model({
        "model": {"uri": "https://m.example.org/a.onnx", "sha256": "a" * 64,
                  "outputs": {"attention": "att"}},
        "classrooms": [{"name": "room-1", "credentialsSecretRef": {"name": "room-1-cams"},
                        "streams": [{"url": "rtsp://cam.lan/1"},
                                    {"url": "rtsp://cam.lan/2",
                                     "credentialsSecretRef": {"name": "door-cam"}}]},
                       {"name": "room-2", "streams": [{"url": "rtsp://cam.lan/3"}]}]})
    rooms = select_rooms(spec, []).rooms
    assert [s.credentials for r in rooms for s in r.streams] == ["room-1-cams", "door-cam", None]
    assert secrets_named(rooms) == ["door-cam", "room-1-cams"]
    assert credentials_condition(rooms, {}).reason == "CredentialsMissing"


def test_classroom_resources_carry_their_refs_and_a_url_with_a_login_is_set_aside() -> None:
    room = classroom_from_resource("room-7", {}, {
        "credentialsSecretRef": {"name": "room-7-cams"},
        "streams": [{"url": "rtsp://cam.lan/7"},
                    {"url": "http://cam.lan/7b", "credentialsSecretRef": {"name": "other"}}]})
    assert room.room is not None
    assert [s.credentials for s in room.room.streams] == ["room-7-cams", "other"]
    leaky = classroom_from_resource("room-8", {}, {
        "streams": [{"url": f"rtsp://admin:{PASSWORD}@cam.lan/8"}]})
    assert leaky.room is None and leaky.problem is not None
    assert "credentialsSecretRef" in leaky.problem and PASSWORD not in leaky.problem
    selection = select_rooms(parse_model({
        "model": {"uri": "https://m.example.org/a.onnx", "sha256": "a" * 64,
                  "outputs": {"attention": "att"}}, "classroomSelector": {}}),
        [leaky, ClassroomResource("room-7", {}, room=room.room)])
    assert [r.name for r in selection.rooms] == ["room-7"]
    assert PASSWORD not in " ".join(selection.problems)


def test_the_pods_mount_their_pools_secret_read_only(
        gpu_pool: Pool, spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
    pod = statefulset(gpu_pool, spec, pod_settings, settings, replicas=1)["spec"]["template"][
        "spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "credentials")
    assert volume == {"name": "credentials", "secret": {
        "secretName": "attention-01234567-credentials", "optional": False}}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "credentials")
    assert mount == {"name": "credentials", "mountPath": "/etc/classroom/credentials",
                     "readOnly": True}
    secret = credentials_secret(gpu_pool, pool_credentials([], {}).data())
    assert secret["metadata"]["name"] == volume["secret"]["secretName"]
    assert secret["metadata"]["namespace"] == "lincoln-high"
