"""A rebuild on a cluster whose GPUs the model's own old pool holds: the new engine's build and
then its new pool's pods wait for a GPU, so after CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS the old
pool gives one up at a time, says what that costs, and the rollover completes by itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from classroom_operator.engines.inventory import GpuClass, InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.names import GPU_YIELD_ANNOTATION
from classroom_operator.rollout.gpu_yield import Blocked, plan_yields
from classroom_operator.rollout.pool_views import PoolObject, ServingPod, YieldRecord, yield_record
from classroom_operator.rollout.pools import pool_name
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec
from classroom_operator.spec.pod_settings import PodSettings
from unit.pool_rollout.test_rollout_plan import FP, NOW, ROOMS, Rollouts, _record, _view
from unit.pool_rollout.world import World

A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
L4 = GpuClass("NVIDIA-L4", "8.9", 550)
NEW = "dddd000000000000"
SHORT = ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are "
         "available: 2 No preemption victims found for incoming pod.")
OLD, NEW_POOL = pool_name("attention", FP[A100.name]), pool_name("attention", NEW)


def _stuck_build(since: float, reason: str = SHORT) -> EngineRecord:
    return EngineRecord(fingerprint=NEW, gpu_class=A100.name, backend="tensorrt",
                        state="Building", reason="Unschedulable",
                        message=f"the build pod cannot be scheduled: {reason}",
                        unschedulable_since=datetime.fromtimestamp(since, UTC))


@pytest.fixture
def full(spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> Rollouts:
    """Two pods a pool, on a class of two GPUs: the old pool holds every GPU."""
    two = replace(spec, serving=replace(spec.serving, replicas_min=2, replicas_max=2))
    return Rollouts(two, pod_settings, settings)


def _steady(rollout: Rollouts, view: InventoryView) -> World:
    world = World(gpus={A100.name: 2})
    world.apply(rollout(world, [_record(A100)], view))
    world.start(*world.pools)
    world.read_assignments()
    assert rollout(world, [_record(A100)], view).conditions[0].status == "True"
    return world


def _rolled(result: object) -> tuple[str, str, str]:
    condition = result.conditions[0]  # type: ignore[attr-defined]
    return condition.status, condition.reason, condition.message


def test_a_full_cluster_gives_old_gpus_up_one_at_a_time(full: Rollouts) -> None:
    view = _view(A100)
    world = _steady(full, view)
    assert world.pools[OLD].replicas == 2
    on_second = sorted(room for room, pods in world.assignments[OLD].listed.items()
                       if f"{OLD}-1" in pods)
    assert on_second

    # The spec changed: the new engine's build waits for a GPU the old pool holds.
    building = [_stuck_build(NOW)]
    early = full(world, building, view, now=NOW + 119)
    assert early.pool_patches == () and early.configmaps == ()
    assert early.wake_after is not None  # looked at again before the time is up

    due = full(world, building, view, now=NOW + 120)
    (given,) = due.pool_patches
    # Its other pod takes the classrooms over before the GPU goes: no replicas in the patch.
    assert given.name == OLD and "spec" not in given.patch
    record = yield_record(given.patch["metadata"]["annotations"][GPU_YIELD_ANNOTATION])
    assert record == YieldRecord(before=2, replicas=1, at=NOW + 120, waiting=f"engine {NEW}",
                                 reason=SHORT)
    assert given.event == (
        f"pool {OLD} runs 1 of 2 pods until engine {NEW} is ready: the build of engine {NEW} "
        f"({A100.name}) found no GPU for 120s ({SHORT}); {len(on_second)} classrooms move to its "
        f"other pods, which run above their usual load meanwhile: {', '.join(on_second)}")
    status, _, message = _rolled(due)
    assert status == "False"
    assert f"GPUs given up: pool {OLD} runs 1 of 2 pods until engine {NEW} is ready" in message
    # The classrooms of the pod given up are handed over to the pod that stays.
    assert set(due.moved) == set(on_second)
    world.apply(due)
    assert world.writes[-2:] == [f"configmap {OLD}", f"patch {OLD}"]
    world.read_assignments()

    # No second GPU while the first is still held, however long the build waits.
    handed = full(world, building, view, now=NOW + 400)
    assert [p.patch for p in handed.pool_patches] == []
    world.apply(handed)
    world.read_assignments()
    shrink = full(world, building, view, now=NOW + 401)
    assert [(p.name, p.patch) for p in shrink.pool_patches] == [
        (OLD, {"spec": {"replicas": 1}})]
    world.apply(shrink)
    assert world.rooms_on(OLD) == {room.name for room in ROOMS.rooms}
    assert set(world.assignments[OLD].listed.values()) == {(f"{OLD}-0",)}

    # The build got the GPU and its engine is ready: the new pool wants two pods, and the
    # second waits for the GPU the old pool's last pod holds.
    ready = [_record(A100, fingerprint=NEW)]
    starting = full(world, ready, view, now=NOW + 600)
    assert [s["metadata"]["name"] for s in starting.statefulsets] == [NEW_POOL]
    assert starting.pool_patches == ()
    world.apply(starting)
    world.ready.add(f"{NEW_POOL}-0")
    world.unschedulable[f"{NEW_POOL}-1"] = (NOW + 610, SHORT)
    world.apply(full(world, ready, view, now=NOW + 611))
    world.read_assignments()
    moving = full(world, ready, view, now=NOW + 612)
    world.apply(moving)
    world.read_assignments()
    waiting = full(world, ready, view, now=NOW + 729)
    assert waiting.pool_patches == ()
    stays = sorted(room for room, pods in world.assignments[OLD].listed.items()
                   if f"{OLD}-0" in pods)
    assert stays, world.assignments[OLD].listed

    # Its last pod goes too: its classrooms wait for their new pod, and status says so.
    last = full(world, ready, view, now=NOW + 730)
    (given,) = last.pool_patches
    assert given.patch["spec"] == {"replicas": 0}
    assert given.event.startswith(
        f"pool {OLD} runs 0 of 2 pods until pool {NEW_POOL} is ready: pod {NEW_POOL}-1 found no "
        f"GPU for 120s ({SHORT}); {len(stays)} classrooms are unserved until their new pods are "
        "Ready")
    assert "its classrooms are unserved until then" in _rolled(last)[2]
    world.apply(last)

    # The new pod starts on the freed GPU; the classrooms move and the old pool goes.
    del world.unschedulable[f"{NEW_POOL}-1"]
    world.ready.add(f"{NEW_POOL}-1")
    for _ in range(4):
        world.read_assignments()
        world.apply(full(world, ready, view, now=NOW + 800))
    assert sorted(world.pools) == [NEW_POOL]
    world.read_assignments()
    done = full(world, ready, view, now=NOW + 801)
    assert _rolled(done)[:2] == ("True", "RolledOut")
    assert "GPUs given up" not in _rolled(done)[2]
    assert world.rooms_on(NEW_POOL) == {room.name for room in ROOMS.rooms}


def test_a_build_that_waits_for_something_else_takes_no_gpu(full: Rollouts) -> None:
    """A taint or a selector no node matches: giving GPUs up would not help."""
    view = _view(A100)
    world = _steady(full, view)
    elsewhere = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    result = full(world, [_stuck_build(NOW, elsewhere)], view, now=NOW + 3600)
    assert result.pool_patches == ()


def test_another_classes_pool_gives_nothing_up(full: Rollouts) -> None:
    """An L4 node joined, its GPU taken by something else: the A100 pool is on other GPUs."""
    world = _steady(full, _view(A100))
    stuck = replace(_stuck_build(NOW), gpu_class=L4.name)
    result = full(world, [_record(A100), stuck], _view(A100, L4), now=NOW + 3600)
    assert result.pool_patches == ()


def _pool(name: str, replicas: int, gpu_class: str = A100.name,
          record: YieldRecord | None = None) -> PoolObject:
    return PoolObject(namespace="lincoln-high", name=name, model="attention", fingerprint=name,
                      gpu_class=gpu_class, replicas=replicas, gpu_yield=record)


def _blocked(since: float, gpu_class: str = A100.name) -> Blocked:
    return Blocked(gpu_class, f"engine {NEW}", "the build", SHORT, since)


def test_the_largest_old_pool_of_the_same_gpus_gives_one_up() -> None:
    upgraded = A100.name.replace("drv550", "drv580")
    pools = [_pool("old-a", 1), _pool("old-b", 3), _pool("l4", 4, L4.name)]
    (given,) = plan_yields([_blocked(NOW, upgraded), _blocked(NOW + 1)], pools, [],
                           now=NOW + 10, wait_seconds=10)
    assert (given.pool, given.record.before, given.record.replicas) == ("old-b", 3, 2)


def test_the_next_gpu_waits_for_the_last_one_to_be_freed_and_the_wait_again() -> None:
    record = YieldRecord(before=3, replicas=2, at=NOW, waiting=f"engine {NEW}", reason=SHORT)
    leaving = ServingPod(namespace="lincoln-high", name="old-2", pool="old", model="attention",
                         ready=False, waiting="Terminating")
    stuck = [_blocked(NOW - 500)]
    assert plan_yields(stuck, [_pool("old", 2, record=record)], [leaving], now=NOW + 60,
                       wait_seconds=10) == ()
    assert plan_yields(stuck, [_pool("old", 2, record=record)], [], now=NOW + 9,
                       wait_seconds=10) == ()
    (given,) = plan_yields(stuck, [_pool("old", 2, record=record)], [], now=NOW + 10,
                           wait_seconds=10)
    assert (given.record.before, given.record.replicas) == (3, 1)
    emptied = replace(record, replicas=0)
    assert plan_yields(stuck, [_pool("old", 0, record=emptied)], [], now=NOW + 60,
                       wait_seconds=10) == ()


@pytest.mark.parametrize("text", ["", "not json", '{"from": 1, "replicas": 2, "at": "x"}',
                                  '{"from": 2, "replicas": 1, "at": "yesterday"}', "[1]"])
def test_an_unreadable_record_counts_as_none(text: str) -> None:
    assert yield_record(text) is None


def test_a_record_reads_back_as_written() -> None:
    record = YieldRecord(before=4, replicas=3, at=NOW, waiting="pool p", reason=SHORT)
    assert yield_record(record.to_text()) == record


def test_a_full_node_upgrading_its_driver_gives_its_only_pod_up(rollout_one: Rollouts) -> None:
    """One GPU, one pod, a new driver: the pool goes to no pod, its classrooms wait for the new
    engine, and it stays (empty) until the new engine's pool takes over."""
    world = World(gpus={A100.name: 1})
    world.apply(rollout_one(world, [_record(A100)], _view(A100)))
    world.start(*world.pools)
    world.read_assignments()
    upgraded = A100.name.replace("drv550", "drv580")
    new_gpu = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 580)
    view = _view(new_gpu)
    stuck = replace(_stuck_build(NOW), gpu_class=upgraded)
    world.gpus = {upgraded: 1}

    given = rollout_one(world, [stuck], view, now=NOW + 120)
    (patch,) = given.pool_patches
    assert patch.patch["spec"] == {"replicas": 0}
    assert patch.event.endswith(
        "4 classrooms are unserved until their new pods are Ready: room-0, room-1, room-2, "
        "room-3")
    world.apply(given)
    waiting = rollout_one(world, [stuck], view, now=NOW + 121)
    world.apply(waiting)
    assert world.rooms_on(OLD) == set()
    emptied = rollout_one(world, [stuck], view, now=NOW + 122)
    assert emptied.remove == () and OLD in world.pools  # kept until the new engine is ready
    status, reason, message = _rolled(emptied)
    assert (status, reason) == ("False", "RollingOver")
    assert "4 classrooms have no pod" in message
    assert "its classrooms are unserved until then" in message
    assert emptied.pool_patches == ()  # nothing left to give

    ready = [EngineRecord(fingerprint=NEW, gpu_class=upgraded, backend="tensorrt", state="Ready",
                          figures={"throughput": {"batch": 8, "cropsPerSecond": 1000.0}})]
    world.apply(rollout_one(world, ready, view, now=NOW + 300))
    world.start(NEW_POOL)
    for _ in range(3):
        world.read_assignments()
        world.apply(rollout_one(world, ready, view, now=NOW + 301))
    assert sorted(world.pools) == [NEW_POOL]
    assert world.rooms_on(NEW_POOL) == {room.name for room in ROOMS.rooms}


@pytest.fixture
def rollout_one(spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> Rollouts:
    return Rollouts(spec, pod_settings, settings)
