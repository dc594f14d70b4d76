"""Who a person is and which classrooms they may see, decided by the API server.

The person's bearer token (a ServiceAccount token or an OIDC token the cluster accepts) goes to
a TokenReview (who is it?) and then, per classroom, to a SubjectAccessReview: may that user `get`
the Classroom of that name (for an inline classroom, the ClassroomModel that lists it)? Answers
are cached briefly (ACCESS_CACHE_SECONDS), so a revoked RoleBinding shuts a classroom within that
time, and an API server that cannot answer means no (fail closed). Tokens are cached only as
their sha256.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from classroom_operator.classview.api import ApiUnavailable, ViewApi
from classroom_operator.classview.rooms import RoomRef

ACCESS_CACHE_SECONDS = 30.0
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


@dataclass(frozen=True)
class Person:
    username: str
    uid: str
    groups: tuple[str, ...]
    extra: dict[str, list[str]]


class Access:
    def __init__(self, api: ViewApi, *, cache_seconds: float = ACCESS_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._people: dict[str, tuple[float, Person | None]] = {}
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}

    def _fresh(self, at: float) -> bool:
        return self._clock() - at < self._cache_seconds

    async def person(self, token: str) -> Person | None:
        """Who the token belongs to; None when the API server does not accept it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._people.get(key)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        review = await self._api.create(TOKEN_REVIEWS, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}})
        status: dict[str, Any] = review.get("status") or {}
        person = None
        if status.get("authenticated"):
            user = status.get("user") or {}
            person = Person(str(user.get("username", "")), str(user.get("uid", "")),
                            tuple(user.get("groups") or ()), dict(user.get("extra") or {}))
        self._people[key] = (self._clock(), person)
        return person

    async def may_see(self, token: str, room: RoomRef) -> bool:
        """Whether the token's owner may `get` the room's object; False when unauthenticated."""
        key = (hashlib.sha256(token.encode()).hexdigest(), room.key + "|" + room.model)
        cached = self._answers.get(key)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        person = await self.person(token)
        allowed = False
        if person is not None:
            spec: dict[str, Any] = {"user": person.username, "groups": list(person.groups),
                                    "resourceAttributes": room.resource_attributes()}
            if person.uid:
                spec["uid"] = person.uid
            if person.extra:
                spec["extra"] = person.extra
            review = await self._api.create(ACCESS_REVIEWS, {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": spec})
            allowed = bool((review.get("status") or {}).get("allowed"))
        self._answers[key] = (self._clock(), allowed)
        return allowed

    def forget_expired(self) -> None:
        for table in (self._people, self._answers):
            for key in [k for k, (at, _) in table.items() if not self._fresh(at)]:
                del table[key]  # type: ignore[arg-type]


__all__ = ["Access", "ApiUnavailable", "Person"]
