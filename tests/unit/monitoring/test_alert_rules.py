"""The chart's PrometheusRule, checked and tested with the real promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from monitoring.queries import ALERT_TESTS, ENABLED, render, rule_groups
from monitoring.toolchain import PROMETHEUS_RELEASE


def _promtool(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_promtool_is_the_pinned_release(promtool: Path, tmp_path: Path) -> None:
    result = _promtool(promtool, "--version", cwd=tmp_path)
    assert f"version {PROMETHEUS_RELEASE}" in result.stdout + result.stderr


def test_rendered_rules_pass_promtool_check(promtool: Path, groups: list[dict[str, Any]],
                                            tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    result = _promtool(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in groups)} rules found" in result.stdout


def test_every_alert_fires_when_it_should_and_stays_quiet_otherwise(
        promtool: Path, rule_folder: Path) -> None:
    result = _promtool(promtool, "test", "rules", "alerts_test.yaml", cwd=rule_folder)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case(groups: list[dict[str, Any]]) -> None:
    alerts = {rule["alert"] for group in groups for rule in group["rules"]}
    cases = [case for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
             for case in test["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts - firing == set(), "alerts never seen firing"
    assert alerts - quiet == set(), "alerts never seen quiet"
    # The quiet cases hold series that must not fire: each test has more than one subject.
    assert len(alerts) >= 10


def test_a_wrong_expectation_fails_the_alert_tests(promtool: Path, rule_folder: Path) -> None:
    """The harness can fail: expecting the latency alert for the model within its budget."""
    tests = (rule_folder / "alerts_test.yaml").read_text()
    wrong = tests.replace("exp_labels: {severity: warning, namespace: school, model: attention}\n"
                          "\n  - name: a sink",
                          "exp_labels: {severity: warning, namespace: school, model: emotion}\n"
                          "\n  - name: a sink")
    assert wrong != tests
    (rule_folder / "alerts_test.yaml").write_text(wrong)
    result = _promtool(promtool, "test", "rules", "alerts_test.yaml", cwd=rule_folder)
    assert result.returncode != 0
    assert "ClassroomLatencyOverBudget" in result.stdout + result.stderr


def test_thresholds_come_from_the_values(promtool: Path, tmp_path: Path) -> None:
    values = {"monitoring": {**ENABLED["monitoring"], "prometheusRule": {
        "enabled": True, "alertLabels": {"team": "platform"},
        "alerts": {"buildStuckMinutes": 90, "streamsUnhealthyFor": "7m"}}}}
    rules = {rule["alert"]: rule for group in rule_groups(render(values, tmp_path))
             for rule in group["rules"]}
    assert rules["ClassroomBuildStuck"]["expr"].endswith("> 5400")
    assert rules["ClassroomStreamsUnhealthy"]["for"] == "7m"
    assert all(rule["labels"]["team"] == "platform" for rule in rules.values())
