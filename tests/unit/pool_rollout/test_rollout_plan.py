"""A model's rollout from first pods to a driver-upgrade rollover, on a simulated cluster side:
what is written, in which order, and what status says at each step."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from classroom_operator.engines.inventory import GpuClass, InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.rollout.classrooms import Room, Selection
from classroom_operator.rollout.planning import Rollout, hardware, plan_rollout
from classroom_operator.rollout.pools import ModelRef, pool_name
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, Stream
from classroom_operator.spec.pod_settings import PodSettings
from unit.pool_rollout.conftest import MODEL
from unit.pool_rollout.world import World

A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
A100_580 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 580)
L4 = GpuClass("NVIDIA-L4", "8.9", 550)
FP = {A100.name: "aaaa000000000000", A100_580.name: "cccc000000000000",
      L4.name: "bbbb000000000000"}
NOW = 1_795_000_000.0
ROOMS = Selection(tuple(Room(f"room-{i}", (Stream(f"rtsp://cams.lan/{i}", "per-student"),))
                        for i in range(4)))


def _record(gpu: GpuClass, state: str = "Ready", fingerprint: str | None = None) -> EngineRecord:
    return EngineRecord(fingerprint=fingerprint or FP[gpu.name], gpu_class=gpu.name,
                        backend="tensorrt", state=state,
                        figures={"throughput": {"batch": 8, "cropsPerSecond": 1000.0}})


def _view(*gpus: GpuClass) -> InventoryView:
    return InventoryView(classes={gpu.name: gpu for gpu in gpus},
                         nodes_by_class={gpu.name: (f"node-{gpu.name[:12]}",) for gpu in gpus})


class Rollouts:
    def __init__(self, spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
        self.spec, self.pod_settings, self.settings = spec, pod_settings, settings

    def __call__(self, world: World, records: Sequence[EngineRecord], view: InventoryView,
                 selection: Selection = ROOMS, model: ModelRef = MODEL,
                 healthy: bool = True, now: float = NOW) -> Rollout:
        return plan_rollout(model, generation=2, spec=self.spec, pod_settings=self.pod_settings,
                            records=records, view=view, selection=selection,
                            cluster=world.cluster(healthy), settings=self.settings, now=now)


@pytest.fixture
def rollout(spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> Rollouts:
    return Rollouts(spec, pod_settings, settings)


def _condition(result: Rollout, kind: str) -> tuple[str, str]:
    found = next(c for c in result.conditions if c.type == kind)
    return found.status, found.reason


def _served_by_ready_pods(world: World) -> None:
    """Every room is in some assignment file, on a pod that is Ready."""
    for room in (r.name for r in ROOMS.rooms):
        pods = [pod for stored in world.assignments.values()
                for pod in stored.listed.get(room, ())]
        assert pods, f"{room} is in no assignment"
        assert any(pod in world.ready for pod in pods), f"{room} is on {pods}, none Ready"


def test_hardware_is_the_class_without_its_driver() -> None:
    assert hardware("nvidia-a100-sxm4-80gb-sm80-drv550") == "nvidia-a100-sxm4-80gb-sm80"
    assert hardware("cpu") == "cpu"


def test_first_rollout_then_steady(rollout: Rollouts) -> None:
    world = World()
    records, view = [_record(A100), _record(L4)], _view(A100, L4)
    first = rollout(world, records, view)
    names = sorted(pool_name("attention", FP[gpu.name]) for gpu in (A100, L4))
    assert sorted(w.name for w in first.configmaps) == names
    assert all(w.create is not None for w in first.configmaps)
    assert sorted(s["metadata"]["name"] for s in first.statefulsets) == names
    assert sorted(s["metadata"]["name"] for s in first.services) == names
    assert first.status["podsWanted"] == 2 and first.status["podsReady"] == 0
    assert _condition(first, "RolledOut") == ("False", "PodsNotReady")
    assert _condition(first, "StreamsHealthy") == ("False", "StreamsUnhealthy")
    assert first.wake_after is not None
    world.apply(first)
    # Each pool's ConfigMap exists before its StatefulSet, so the pods can mount it.
    assert world.writes.index(f"configmap {names[0]}") < \
        world.writes.index(f"statefulset {names[0]}")

    world.start(*names)
    world.read_assignments()
    steady = rollout(world, records, view)
    assert (steady.configmaps, steady.statefulsets, steady.remove) == ((), (), ())
    assert _condition(steady, "RolledOut") == ("True", "RolledOut")
    assert _condition(steady, "StreamsHealthy") == ("True", "AllHealthy")
    assert steady.status["streams"] == {"assigned": 4, "healthy": 4}
    assert steady.status["podsReady"] == steady.status["podsWanted"] == 2
    assert [pool["gpuClass"] for pool in steady.status["pools"]] == sorted([A100.name, L4.name])
    assert sum(pool["streamsAssigned"] for pool in steady.status["pools"]) == 4
    assert steady.wake_after is None
    assert rollout(world, records, view, healthy=False).conditions[1].status == "False"


def test_no_engine_ready_writes_nothing(rollout: Rollouts) -> None:
    result = rollout(World(), [_record(A100, "Building")], _view(A100))
    assert (result.configmaps, result.statefulsets) == ((), ())
    assert _condition(result, "RolledOut") == ("False", "WaitingForEngines")
    assert _condition(result, "StreamsHealthy") == ("Unknown", "NoStreams")
    assert result.status["podsWanted"] == 0


def _steady(rollout: Rollouts, records: list[EngineRecord], view: InventoryView) -> World:
    world = World()
    world.apply(rollout(world, records, view))
    world.start(*world.pools)
    world.read_assignments()
    return world


def test_a_driver_upgrade_rolls_the_pool_over_make_before_break(rollout: Rollouts) -> None:
    world = _steady(rollout, [_record(A100), _record(L4)], _view(A100, L4))
    old, new, l4 = (pool_name("attention", FP[g.name]) for g in (A100, A100_580, L4))
    on_old, on_l4 = world.rooms_on(old), world.rooms_on(l4)
    assert on_old and on_l4

    # The A100 node now runs driver 580; its engine is being built. The old pool holds on.
    upgraded = _view(A100_580, L4)
    building = [_record(A100_580, "Building"), _record(L4)]
    holding = rollout(world, building, upgraded)
    assert (holding.configmaps, holding.statefulsets, holding.remove) == ((), (), ())
    assert _condition(holding, "RolledOut") == ("False", "RollingOver")
    assert holding.wake_after is not None

    # The new engine is ready: its pool starts beside the old one; rooms stay for now.
    ready = [_record(A100_580), _record(L4)]
    starting = rollout(world, ready, upgraded)
    assert [s["metadata"]["name"] for s in starting.statefulsets] == [new]
    assert starting.remove == ()
    world.apply(starting)
    assert world.rooms_on(old) == on_old and world.rooms_on(new) == set()
    _served_by_ready_pods(world)
    assert _condition(rollout(world, ready, upgraded), "RolledOut")[0] == "False"

    # Its pod is Ready: the rooms are handed over, the receiving pool written first; the old
    # pool keeps them too, with a record of the hand-over beside its file.
    world.start(new)
    moving = rollout(world, ready, upgraded)
    assert [w.name for w in moving.configmaps] == [new, old]
    assert moving.moved == {room: f"{new}-0" for room in on_old}
    assert {h.room for h in moving.handovers} == on_old
    world.apply(moving)
    assert world.rooms_on(new) == on_old and world.rooms_on(old) == on_old
    assert world.handing_over(old) == on_old
    assert world.rooms_on(l4) == on_l4
    _served_by_ready_pods(world)

    # The new pod has read its file and is connecting the cameras: nothing changes, and the
    # streams count as healthy, served by the old pod meanwhile.
    world.connecting[f"{new}-0"] = "Connecting"
    world.read_assignments()
    connecting = rollout(world, ready, upgraded, now=NOW + 3)
    assert (connecting.configmaps, connecting.remove, connecting.moved) == ((), (), {})
    assert _condition(connecting, "RolledOut") == ("False", "HandingOver")
    assert connecting.status["streams"] == {"assigned": 4, "healthy": 4}
    assert connecting.wake_after is not None

    # Its streams are Healthy: the old pool lets go of the rooms and drops its records.
    del world.connecting[f"{new}-0"]
    handed = rollout(world, ready, upgraded, now=NOW + 5)
    assert [w.name for w in handed.configmaps] == [old] and handed.handovers == ()
    world.apply(handed)
    assert world.rooms_on(old) == set() and world.handing_over(old) == set()
    assert handed.remove == ()  # the old pod has not read its file yet

    # Every pod has read its file: the old pool goes.
    world.read_assignments()
    removing = rollout(world, ready, upgraded)
    assert removing.remove == (old,)
    world.apply(removing)
    world.read_assignments()
    done = rollout(world, ready, upgraded)
    assert _condition(done, "RolledOut") == ("True", "RolledOut")
    assert (done.configmaps, done.statefulsets, done.remove) == ((), (), ())
    assert done.status["streams"] == {"assigned": 4, "healthy": 4}
    assert sorted(world.pools) == sorted([new, l4])


def test_a_hand_over_that_takes_too_long_is_named_and_kept(rollout: Rollouts) -> None:
    world = _steady(rollout, [_record(A100)], _view(A100))
    old, new = (pool_name("attention", FP[g.name]) for g in (A100, A100_580))
    ready, upgraded = [_record(A100_580)], _view(A100_580)
    world.apply(rollout(world, ready, upgraded))
    world.start(new)
    world.apply(rollout(world, ready, upgraded))
    world.read_assignments()
    world.connecting[f"{new}-0"] = "Failed"
    names = {room.name for room in ROOMS.rooms}

    # Each pass plans afresh from the files and their records, as a restarted operator would:
    # the hand-over is dated from when it began, not from the pass.
    early = rollout(world, ready, upgraded, now=NOW + 59)
    assert _condition(early, "RolledOut") == ("False", "HandingOver")
    late = rollout(world, ready, upgraded, now=NOW + 61)
    assert (late.configmaps, late.remove) == ((), ())
    assert {h.room for h in late.handovers} == names
    assert {h.since for h in late.handovers} == {NOW}
    rolled = late.conditions[0]
    assert (rolled.status, rolled.reason) == ("False", "HandOverStalled")
    assert rolled.message.startswith(
        "4 classrooms are still served by their previous pods as well: their new pods have not "
        f"reported every stream Healthy within 60s: room-0 (pod {new}-0: room-0-0 Failed)")
    assert "and 1 more" in rolled.message
    # Served by the old pod all along.
    assert late.status["streams"] == {"assigned": 4, "healthy": 4}
    assert world.rooms_on(old) == names

    # Hours later nothing has changed: the old pool serves until the new pods can.
    assert rollout(world, ready, upgraded, now=NOW + 7200).remove == ()
    world.connecting.clear()
    handed = rollout(world, ready, upgraded, now=NOW + 7201)
    assert handed.handovers == () and [w.name for w in handed.configmaps] == [old]


def test_a_spec_change_rolls_over_within_the_class(rollout: Rollouts) -> None:
    world = _steady(rollout, [_record(A100)], _view(A100))
    old = pool_name("attention", FP[A100.name])
    new = pool_name("attention", "dddd000000000000")
    building = rollout(world, [_record(A100, "Building", "dddd000000000000")], _view(A100))
    assert building.configmaps == () and building.remove == ()
    ready = [_record(A100, fingerprint="dddd000000000000")]
    world.apply(rollout(world, ready, _view(A100)))
    world.start(new)
    world.apply(rollout(world, ready, _view(A100)))
    assert world.rooms_on(new) == world.rooms_on(old) == {room.name for room in ROOMS.rooms}
    world.read_assignments()
    world.apply(rollout(world, ready, _view(A100)))
    assert world.rooms_on(old) == set()
    world.read_assignments()
    assert rollout(world, ready, _view(A100)).remove == (old,)


def test_a_statefulset_scaled_by_hand_is_set_back(rollout: Rollouts) -> None:
    records, view = [_record(A100)], _view(A100)
    world = _steady(rollout, records, view)
    name = pool_name("attention", FP[A100.name])
    world.scaled(name, 4)
    result = rollout(world, records, view)
    assert [(s["metadata"]["name"], s["spec"]["replicas"]) for s in result.statefulsets] == \
        [(name, 1)]


def test_a_new_classroom_is_written_without_touching_the_statefulset(
        rollout: Rollouts) -> None:
    records, view = [_record(A100), _record(L4)], _view(A100, L4)
    world = _steady(rollout, records, view)
    before = {name: dict(stored.listed) for name, stored in world.assignments.items()}
    more = Selection((*ROOMS.rooms, Room("room-9", (Stream("rtsp://cams.lan/9", "room"),),
                                         seats=20)))
    result = rollout(world, records, view, selection=more)
    assert result.statefulsets == ()
    assert len(result.configmaps) == 1
    world.apply(result)
    for name, rooms in before.items():
        assert {r: p for r, p in world.assignments[name].listed.items() if r != "room-9"} == rooms


def test_an_assignment_too_large_for_a_configmap_is_refused(rollout: Rollouts) -> None:
    url = "rtsp://cameras.district.example.org/" + "x" * 200
    huge = Selection(tuple(Room(f"room-{i}", tuple(Stream(f"{url}/{j}", "per-student")
                                                   for j in range(40))) for i in range(150)))
    result = rollout(World(), [_record(A100)], _view(A100), selection=huge)
    assert result.configmaps == () and result.statefulsets == ()
    status, reason = _condition(result, "RolledOut")
    assert (status, reason) == ("False", "AssignmentTooLarge")
    assert "split the classrooms" in result.conditions[0].message


def test_set_aside_classrooms_are_named(rollout: Rollouts) -> None:
    records, view = [_record(A100)], _view(A100)
    world = _steady(rollout, records, view)
    noted = Selection(ROOMS.rooms, ("room-7: spec.streams lists no stream",))
    condition = rollout(world, records, view, selection=noted).conditions[0]
    assert condition.status == "True"
    assert "Classrooms set aside: room-7: spec.streams lists no stream" in condition.message


def test_a_model_without_classrooms_runs_no_pods(rollout: Rollouts) -> None:
    records, view = [_record(A100)], _view(A100)
    idle = rollout(World(), records, view, selection=Selection(()))
    assert (idle.configmaps, idle.statefulsets) == ((), ())
    assert _condition(idle, "RolledOut") == ("True", "NoClassrooms")
    assert idle.status["podsWanted"] == 0

    # The last classroom leaves: the pool goes once its pod serves nothing.
    world = _steady(rollout, records, view)
    (name,) = world.pools
    emptied = rollout(world, records, view, selection=Selection(()))
    assert emptied.remove == ()
    assert _condition(emptied, "RolledOut") == ("False", "RollingOver")
    world.apply(emptied)
    world.read_assignments()
    assert rollout(world, records, view, selection=Selection(())).remove == (name,)


def test_a_pool_waits_out_its_nodes_driver_upgrade(rollout: Rollouts) -> None:
    records, view = [_record(A100), _record(L4)], _view(A100, L4)
    world = _steady(rollout, records, view)
    before = {name: dict(stored.listed) for name, stored in world.assignments.items()}
    # The GPU Operator is upgrading the A100 node's driver: the class leaves the view for now,
    # its engine record is kept, and its pool keeps its classrooms.
    upgrading = InventoryView(classes={L4.name: L4}, nodes_by_class={L4.name: ("node-l4",)},
                              settling=("node-a100",))
    result = rollout(world, records, upgrading)
    assert (result.configmaps, result.remove) == ((), ())
    world.apply(result)
    assert {name: dict(stored.listed) for name, stored in world.assignments.items()} == before
