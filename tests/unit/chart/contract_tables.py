"""The tables of docs/contracts.md the chart must match: the operator's RBAC (granted and denied)
and its environment. Shared by the offline chart tests and the install test on the real cluster."""

from __future__ import annotations

import re
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"


def markdown_table(text: str, header: str) -> list[list[str]]:
    """Rows of the markdown table whose header row starts with `header`, cells stripped of
    backticks."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")])
    return rows


def contract_rbac() -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) for every grant in the contracts' RBAC table. A resource is
    written `plural.group` ("" group when there is no dot); `plural/sub` takes its group from
    the row naming `plural`."""
    groups: dict[str, str] = {}
    grants: set[tuple[str, str, str]] = set()
    for resource_cell, verbs_cell, _why in markdown_table(CONTRACTS.read_text(),
                                                           "| resource | verbs |"):
        for item in (part.strip() for part in resource_cell.split(",")):
            resource, _, group = item.partition(".")
            if "/" in resource and not group:
                group = groups[resource.split("/")[0]]
            groups[resource] = group
            for verb in verbs_cell.split():
                grants.add((group, resource, verb))
    return grants


def contract_denied() -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) from the contracts' "Denied (checked too)" sentence; "any
    write" is create, update, patch and delete."""
    text = CONTRACTS.read_text()
    sentence = re.search(r"Denied \(checked too\):(.*?)\n\n", text, re.S)
    assert sentence, "docs/contracts.md lost its 'Denied (checked too):' sentence"
    groups = {"secrets": "", "nodes": "", "pods": "", "classrooms": "classroom-operator.io"}
    denied: set[tuple[str, str, str]] = set()
    for clause in sentence.group(1).replace("\n", " ").strip().rstrip(".").split(","):
        words = clause.split()
        if words[:3] == ["any", "write", "to"]:
            resource, verbs = words[3], ["create", "update", "patch", "delete"]
        else:
            resource, verbs = words[0], words[1].split("/")
        for verb in verbs:
            denied.add((groups[resource], resource, verb))
    return denied


def contract_env() -> dict[str, str]:
    """Env name -> chart value from the contracts' table "The operator Deployment"."""
    rows = markdown_table(CONTRACTS.read_text(), "| env | meaning | chart value |")
    return {name: value for name, _meaning, value in rows}
