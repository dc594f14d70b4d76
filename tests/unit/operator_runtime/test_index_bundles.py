"""The index bundles the engine loop and the node handler read (indexes.py) name indexes the
handlers really register, and pick each one from kopf's keyword arguments by that name."""

from __future__ import annotations

from dataclasses import fields

import kopf
from classroom_operator.handlers.engines import register
from classroom_operator.indexes import EngineIndexes, RolloutIndexes
from classroom_operator.settings import Settings

SETTINGS = Settings(namespace="classroom-system", builder_image="registry.example.org/ci:0.1.0",
                    tensorrt_version="10.7.0", gpu_backend="tensorrt",
                    engine_store_claim="engines", peering=None, engine_gc_seconds=600,
                    pod_ip="10.0.0.5")


def _registered_indexes() -> set[str]:
    registry = kopf.OperatorRegistry()
    register(registry, SETTINGS)
    # kopf keeps index handlers in its indexing registry; their ids are the names it passes.
    return {handler.id for handler in registry._indexing.get_all_handlers()}


def test_every_bundled_index_is_registered() -> None:
    registered = _registered_indexes()
    for bundle in (EngineIndexes, RolloutIndexes):
        assert set(bundle.INDEXES) == {field.name for field in fields(bundle)}
        missing = set(bundle.INDEXES.values()) - registered
        assert not missing, f"{bundle.__name__} reads indexes no handler fills: {missing}"


def test_a_bundle_takes_each_index_by_its_name() -> None:
    kwargs = {index: {field: [index]} for bundle in (EngineIndexes, RolloutIndexes)
              for field, index in bundle.INDEXES.items()}
    kwargs["patch"] = {}  # kopf's other keyword arguments are left alone
    engines, rollout = EngineIndexes.of(kwargs), RolloutIndexes.of(kwargs)
    assert engines.catalogue is kwargs["engine_catalogue"]
    assert engines.specs is kwargs["engine_specs"]
    assert rollout.classrooms is kwargs["namespace_classrooms"]
    assert rollout.nodes is engines.nodes is kwargs["gpu_nodes"]
