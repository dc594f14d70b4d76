"""Bad ClassroomModels and Classrooms are refused at admission, and each refusal names the field
and the fix. Server-side dry runs in the default namespace: admission runs in full and nothing is
stored, so the cases need no namespace of their own."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from integration.admission.cases import INVALID, PASSWORD, VALID, valid_classroom, valid_model

Kubectl = Callable[..., Any]


def test_there_are_many_distinct_refusals() -> None:
    assert len(INVALID) >= 150
    built = [json.dumps(case.build(), sort_keys=True) for case in INVALID.values()]
    assert len(set(built)) == len(built), "two cases build the same object"


@pytest.mark.parametrize("obj", [valid_model(), valid_classroom()], ids=["model", "classroom"])
def test_the_valid_bases_are_accepted(kubectl: Kubectl, crds: None, obj: dict[str, Any]) -> None:
    # Every invalid case is one change away from these; they must pass for a refusal to mean
    # anything.
    kubectl("create", "--dry-run=server", "-n", "default", "-f", "-", input=json.dumps(obj))


@pytest.mark.parametrize("case", INVALID)
def test_refused_with_the_field_and_the_fix(kubectl: Kubectl, crds: None, case: str) -> None:
    invalid = INVALID[case]
    result = kubectl("create", "--dry-run=server", "-n", "default", "-f", "-",
                     input=json.dumps(invalid.build()), check=False)
    assert result.returncode != 0, f"accepted: {case}"
    for words in invalid.says:
        assert words in result.stderr, result.stderr


@pytest.mark.parametrize("name", VALID)
def test_valid_variants_are_accepted(kubectl: Kubectl, crds: None, name: str) -> None:
    result = kubectl("create", "--dry-run=server", "-n", "default", "-f", "-",
                     input=json.dumps(VALID[name]), check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", [name for name, case in INVALID.items()
                                  if PASSWORD in json.dumps(case.build())])
def test_a_refused_credential_is_not_repeated(kubectl: Kubectl, crds: None, case: str) -> None:
    # The refusal lands in terminals and CI logs: it names the field, never the password.
    result = kubectl("create", "--dry-run=server", "-n", "default", "-f", "-",
                     input=json.dumps(INVALID[case].build()), check=False)
    assert result.returncode != 0, f"accepted: {case}"
    assert "credentials" in result.stderr or "unknown field" in result.stderr, result.stderr
    assert PASSWORD not in result.stderr, result.stderr
