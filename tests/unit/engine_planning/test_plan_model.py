"""A model's whole plan: one record per needed engine, builds only for what is missing, and
engines it no longer needs released, except while a node is mid driver upgrade."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from classroom_operator.engines.catalogue import CatalogueEntry
from classroom_operator.engines.inventory import GpuClass, InventoryView
from classroom_operator.engines.planning import (
    CreateJob,
    EngineRecord,
    World,
    engine_spec_key,
    needed_engines,
    new_engines,
    plan_model,
)
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, parse_spec

Worlds = Callable[..., World]
A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
A100_580 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 580)


def _ready(fingerprint: str, gpu: GpuClass) -> EngineRecord:
    return EngineRecord(fingerprint=fingerprint, gpu_class=gpu.name, backend="tensorrt",
                        state="Ready", attempts=1)


def test_one_build_per_class_missing(spec: ModelSpec, view: InventoryView, world: Worlds,
                                     now: datetime, settings: Settings) -> None:
    plan = plan_model(spec, view, {}, generation_changed=True, world=world(), now=now,
                      settings=settings)
    assert len(plan.jobs) == 2
    assert {job.need.gpu for job in plan.jobs} == set(view.classes.values())
    assert all(isinstance(job, CreateJob) for job in plan.jobs)
    assert [r.gpu_class for r in plan.records] == sorted(r.gpu_class for r in plan.records)


def test_only_the_missing_engine_is_built_after_a_driver_upgrade(
        spec: ModelSpec, world: Worlds, now: datetime, settings: Settings) -> None:
    before = needed_engines(spec, InventoryView(classes={A100.name: A100}), settings)
    (old_fp,) = before
    catalogue = {old_fp: CatalogueEntry(old_fp, A100.name, "tensorrt", None)}
    upgraded = InventoryView(classes={A100.name: A100, A100_580.name: A100_580})
    plan = plan_model(spec, upgraded, {old_fp: _ready(old_fp, A100)}, generation_changed=False,
                      world=world(catalogue=catalogue), now=now, settings=settings)
    assert [job.need.gpu for job in plan.jobs] == [A100_580]
    assert plan.released == ()


def test_engines_no_longer_needed_are_released(spec: ModelSpec, world: Worlds, now: datetime,
                                               settings: Settings) -> None:
    (old_fp,) = needed_engines(spec, InventoryView(classes={A100.name: A100}), settings)
    only_580 = InventoryView(classes={A100_580.name: A100_580})
    plan = plan_model(spec, only_580, {old_fp: _ready(old_fp, A100)}, generation_changed=False,
                      world=world(), now=now, settings=settings)
    assert plan.released == (old_fp,)
    assert old_fp not in {r.fingerprint for r in plan.records}


def test_nothing_is_released_while_a_node_settles(spec: ModelSpec, world: Worlds, now: datetime,
                                                  settings: Settings) -> None:
    (old_fp,) = needed_engines(spec, InventoryView(classes={A100.name: A100}), settings)
    settling = InventoryView(classes={}, settling=("gpu-1",))
    plan = plan_model(spec, settling, {old_fp: _ready(old_fp, A100)}, generation_changed=False,
                      world=world(), now=now, settings=settings)
    assert plan.released == ()
    assert plan.jobs == ()
    assert [r.fingerprint for r in plan.records] == [old_fp]


def test_no_nodes_no_engines(spec: ModelSpec, world: Worlds, now: datetime,
                             settings: Settings) -> None:
    plan = plan_model(spec, InventoryView(), {}, generation_changed=True, world=world(),
                      now=now, settings=settings)
    assert plan.records == () and plan.jobs == () and plan.wake_after is None


def test_cpu_class_uses_onnxruntime_cpu(spec: ModelSpec, world: Worlds, now: datetime,
                                        settings: Settings) -> None:
    cpu = GpuClass()
    plan = plan_model(spec, InventoryView(classes={"cpu": cpu}), {}, generation_changed=True,
                      world=world(), now=now, settings=settings)
    assert [job.need.backend for job in plan.jobs] == ["onnxruntime-cpu"]


def test_new_engines_are_those_no_one_has_seen(spec: ModelSpec, world: Worlds, job: Any,
                                               settings: Settings) -> None:
    view = InventoryView(classes={A100.name: A100, A100_580.name: A100_580})
    needs = needed_engines(spec, view, settings)
    by_gpu = {need.gpu: fp for fp, need in needs.items()}
    # The A100 driver 550 engine has a Job; the 580 one is recorded (failed) in some status.
    building = replace(job(), fingerprint=by_gpu[A100])
    fresh = new_engines(spec, view, settings, world([building]), recorded=set())
    assert [need.gpu for need in fresh] == [A100_580]
    assert new_engines(spec, view, settings, world([building]),
                       recorded={by_gpu[A100_580]}) == []


def test_engine_spec_key_groups_models_with_the_same_engines(raw: dict[str, Any]) -> None:
    same = parse_spec({**raw, "validation": {"maxAttentionError": 0.2},
                       "serving": {"targetFps": 5}})
    other = parse_spec({**raw, "engine": {"precision": "fp32"}})
    assert engine_spec_key(parse_spec(raw)) == engine_spec_key(same)
    assert engine_spec_key(parse_spec(raw)) != engine_spec_key(other)
