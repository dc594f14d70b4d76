"""Fixtures for the chart's monitoring objects: the pinned promtool, and the chart rendered
with every monitoring object on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from monitoring.queries import ALERT_TESTS, ENABLED, render, rule_groups
from monitoring.toolchain import ensure_promtool


@pytest.fixture(scope="session")
def promtool() -> Path:
    return ensure_promtool()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render(ENABLED, tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def groups(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rule_groups(rendered)


@pytest.fixture
def rule_folder(tmp_path: Path, groups: list[dict[str, Any]]) -> Path:
    """The rendered PrometheusRule's spec as rules.yaml next to a copy of the alert tests.
    Annotations are left out there (promtool's alert tests compare them verbatim); `promtool
    check rules` checks their templates on the full spec."""
    bare = [{**group, "rules": [{k: v for k, v in rule.items() if k != "annotations"}
                                for rule in group["rules"]]} for group in groups]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}, sort_keys=False))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts_test.yaml")
    return tmp_path
