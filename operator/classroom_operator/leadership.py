"""Whether this replica leads, read from kopf's peering object, for the `leader` gauge.

kopf keeps each replica's priority and last keep-alive in the ClusterKopfPeering's status and
pauses every replica but the one of highest priority among the live ones; kopf does not expose
that decision, so this module reads the same record and applies the same rule. A standby's
handlers are paused, and its per-model series are cleared (metrics.set_leader), so no dashboard
shows a paused replica's stale figures.

RBAC: clusterkopfpeerings.kopf.dev get (granted for kopf's own peering).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from classroom_operator.metrics import Metrics

log = logging.getLogger(__name__)
PEERINGS = "/apis/kopf.dev/v1/clusterkopfpeerings/{name}"


def leads(peers: Mapping[str, Any], own_priority: int, now: datetime) -> bool:
    """kopf's rule: this replica runs when it is live and no other live peer has a priority as
    high as its own (equal priorities pause both)."""
    ours = 0
    for info in peers.values():
        if not isinstance(info, Mapping) or _dead(info, now):
            continue
        priority = int(info.get("priority", 0))
        if priority > own_priority:
            return False
        if priority == own_priority:
            ours += 1
    return ours == 1  # our own entry, and no peer sharing our priority


def _dead(info: Mapping[str, Any], now: datetime) -> bool:
    lastseen = info.get("lastseen")
    if not isinstance(lastseen, str):
        return False  # kopf counts a peer without a keep-alive time as just seen
    seen = datetime.fromisoformat(lastseen)
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return seen + timedelta(seconds=int(info.get("lifetime", 60))) <= now


async def follow_leadership(get: Callable[[str], Awaitable[dict[str, Any] | None]],
                            metrics: Metrics, *, peering: str, priority: int,
                            period: float) -> None:
    """Set the leader gauge from the peering object every `period` seconds, until cancelled.
    A failed read keeps the last answer: a blip of the API must not clear a leader's series."""
    leading: bool | None = None
    while True:
        try:
            body = await get(PEERINGS.format(name=peering))
        except (kopf.TemporaryError, RuntimeError) as error:
            log.info("peering %s not readable, keeping leader=%s: %s", peering, leading, error)
        else:
            now_leading = leads((body or {}).get("status") or {}, priority, datetime.now(UTC))
            if now_leading != leading:
                log.info("this replica %s", "leads" if now_leading else "stands by",
                         extra={"peering": peering})
                metrics.set_leader(now_leading)
                leading = now_leading
        await asyncio.sleep(period)
