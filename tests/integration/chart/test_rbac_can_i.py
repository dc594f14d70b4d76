"""`kubectl auth can-i` as the operator's ServiceAccount matches docs/contracts.md: every listed
grant is allowed, every listed denial is refused, and build Job writes stay in the release
namespace."""

from __future__ import annotations

import pytest
from integration.chart.release import Release
from unit.chart.contract_tables import contract_denied, contract_rbac

# Granted by the Role in the release namespace only (docs/contracts.md, "Scope").
NAMESPACE_ONLY = {("batch", "jobs", "create"), ("batch", "jobs", "patch"),
                  ("batch", "jobs", "delete"), ("", "pods/log", "get")} | {
    ("kopf.dev", "kopfpeerings", verb) for verb in ("get", "list", "watch", "patch")}


def can_i(release: Release, verb: str, group: str, resource: str, namespace: str) -> bool:
    base, _, sub = resource.partition("/")
    target = f"{base}.{group}" if group else base
    done = release.cluster.kubectl(
        "auth", "can-i", verb, target, "--as", release.service_account, "-n", namespace,
        *(["--subresource", sub] if sub else []), check=False)
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), done.stderr
    return answer == "yes"


@pytest.mark.parametrize("grant", sorted(contract_rbac()), ids="/".join)
def test_listed_grant_is_allowed(installed: Release, grant: tuple[str, str, str]) -> None:
    group, resource, verb = grant
    assert can_i(installed, verb, group, resource, installed.namespace)
    elsewhere = can_i(installed, verb, group, resource, "default")
    assert elsewhere == (grant not in NAMESPACE_ONLY)


@pytest.mark.parametrize("denial", sorted(contract_denied()), ids="/".join)
def test_listed_denial_is_refused(installed: Release, denial: tuple[str, str, str]) -> None:
    group, resource, verb = denial
    assert not can_i(installed, verb, group, resource, installed.namespace)
    assert not can_i(installed, verb, group, resource, "default")


def test_nothing_beyond_the_table(installed: Release) -> None:
    # A few things an over-broad role would allow.
    for verb, group, resource in [("delete", "", "namespaces"), ("create", "", "pods"),
                                  ("update", "apps", "deployments"),
                                  ("create", "rbac.authorization.k8s.io", "clusterroles"),
                                  ("delete", "apiextensions.k8s.io", "customresourcedefinitions"),
                                  ("delete", "classroom-operator.io", "classroommodels")]:
        assert not can_i(installed, verb, group, resource, installed.namespace), (verb, resource)


def test_secrets_are_written_by_name_never_enumerated(installed: Release) -> None:
    """The pools' login Secrets need create, patch and delete; listing or watching would let
    the operator read every Secret of the cluster, so both stay refused."""
    for verb in ("get", "create", "patch", "delete"):
        assert can_i(installed, verb, "", "secrets", "default"), verb
    for verb in ("list", "watch"):
        assert not can_i(installed, verb, "", "secrets", "default"), verb
        assert not can_i(installed, verb, "", "secrets", installed.namespace), verb
