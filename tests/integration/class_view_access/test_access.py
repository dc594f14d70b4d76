"""The class view's access checks against the real API server: TokenReview says who a token
is, SubjectAccessReview whether they may `get` the classroom (or, for an inline classroom, its
model), and a withdrawn RoleBinding shuts the room once the cached answer expires."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from classroom_operator.classview.access import Access
from classroom_operator.classview.api import ViewApi
from classroom_operator.classview.rooms import RoomRef
from classroom_operator.kube import load_credentials
from localcluster.cluster import LocalCluster

RBAC = "rbac.authorization.k8s.io"


def grant(namespace: str, account: str, resource: str, name: str) -> list[dict[str, object]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": f"view-{name}"},
         "rules": [{"apiGroups": ["classroom-operator.io"], "resources": [resource],
                    "resourceNames": [name], "verbs": ["get"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": account},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": f"view-{name}"},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]},
    ]


@pytest.fixture
def view_api(cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[ViewApi]:
    # The client library reads $KUBECONFIG once, at import: point its default at the cluster.
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION",
                        str(cluster.kubeconfig))
    yield ViewApi(load_credentials())


def apply(cluster: LocalCluster, namespace: str, objects: list[dict[str, object]]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def token(cluster: LocalCluster, namespace: str, account: str) -> str:
    return cluster.kubectl("create", "token", account, "-n", namespace).stdout.strip()


async def test_a_teacher_sees_the_granted_room_only(cluster: LocalCluster, namespace: str,
                                                    view_api: ViewApi) -> None:
    apply(cluster, namespace, grant(namespace, "teacher", "classrooms", "room-101")
          + grant(namespace, "head", "classroommodels", "attention"))
    teacher, head = token(cluster, namespace, "teacher"), token(cluster, namespace, "head")
    access = Access(view_api)
    room_101 = RoomRef(namespace, "room-101", "attention", inline=False)
    room_102 = RoomRef(namespace, "room-102", "attention", inline=False)
    inline = RoomRef(namespace, "room-201", "attention", inline=True)
    try:
        person = await access.person(teacher)
        assert person is not None
        assert person.username == f"system:serviceaccount:{namespace}:teacher"
        assert await access.may_see(teacher, room_101) is True
        assert await access.may_see(teacher, room_102) is False
        assert await access.may_see(teacher, inline) is False
        assert await access.may_see(head, inline) is True  # get on the model that lists it
        assert await access.may_see(head, room_101) is False
        assert await access.person("not-a-token") is None
        assert await access.may_see("not-a-token", room_101) is False
    finally:
        await view_api.close()


async def test_a_withdrawn_binding_shuts_the_room_when_the_cached_answer_expires(
        cluster: LocalCluster, namespace: str, view_api: ViewApi) -> None:
    apply(cluster, namespace, grant(namespace, "teacher", "classrooms", "room-101"))
    teacher = token(cluster, namespace, "teacher")
    access = Access(view_api, cache_seconds=2.0)
    room = RoomRef(namespace, "room-101", "attention", inline=False)
    try:
        assert await access.may_see(teacher, room) is True
        cluster.kubectl("delete", "rolebinding", "teacher", "-n", namespace)
        assert await access.may_see(teacher, room) is True  # the cached answer, for now
        await asyncio.sleep(2.5)
        assert await access.may_see(teacher, room) is False
    finally:
        await view_api.close()
