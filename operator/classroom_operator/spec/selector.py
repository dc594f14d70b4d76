"""spec.classroomSelector: a label selector over the Classrooms of the model's namespace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from classroom_operator.spec.fields import SpecError

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True)
class Selector:
    """A label selector: every matchLabels pair and every matchExpressions requirement."""

    labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.labels) and all(
            requirement.matches(labels) for requirement in self.requirements)


def parse_selector(raw: Mapping[str, Any]) -> Selector:
    """spec.classroomSelector; `SpecError` names the part that is not a label selector."""
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping) or not all(
            isinstance(value, str) for value in match_labels.values()):
        raise SpecError("classroomSelector.matchLabels",
                        "must map label keys to string values, e.g. {school: lincoln}")
    expressions = raw.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SpecError("classroomSelector.matchExpressions", "must be a list of requirements")
    requirements = []
    for index, item in enumerate(expressions):
        path = f"classroomSelector.matchExpressions[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            raise SpecError(path, "must be {key, operator, values}")
        operator = item.get("operator")
        if operator not in OPERATORS:
            raise SpecError(f"{path}.operator",
                            f"is {operator!r}; use one of {', '.join(OPERATORS)}")
        values = item.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SpecError(f"{path}.values", "must be a list of strings")
        if (operator in ("In", "NotIn")) != bool(values):
            raise SpecError(f"{path}.values", "give values for In and NotIn, none for Exists "
                            "and DoesNotExist")
        requirements.append(Requirement(item["key"], operator, frozenset(values)))
    return Selector(labels=tuple(sorted(match_labels.items())),
                    requirements=tuple(requirements))
