"""The engine catalogue: which engines exist in the store, and which no model needs any more.

A ConfigMap in the operator's namespace, one key per fingerprint holding a small JSON record. It
outlives build Jobs (which expire after their TTL) and ClassroomModels (which come and go), so it
is where a built engine is found again and where an unused engine's grace period is kept across
operator restarts. The store's files are removed by a cleanup Job (`classroom-inference gc`) once
the grace period has passed, no model needs the engine and no pod serves it.

An engine can be built, released and collected more than once (a model comes back, then goes
again), and a finished cleanup Job stays for its ttl. So each grace cycle has its own cleanup Job,
named after the cycle (`cleanup_cycle`: the entry's builtAt and releasedAt) and annotated with it:
a Job of that name that already exists is the one this cycle started before (a retried pass, a
restart), never the last cycle's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from classroom_operator.engines.build_jobs import STORE_PATH
from classroom_operator.engines.build_results import ENGINE_FIGURES, parse_time
from classroom_operator.names import (
    CATALOGUE_COMPONENT,
    CLEANUP_CYCLE_ANNOTATION,
    FINGERPRINT_LABEL,
    GC_COMPONENT,
    managed_labels,
    workload_labels,
)
from classroom_operator.settings import Settings

NAME = "classroom-engines"
# A ConfigMap holds at most 1 MiB; at a few hundred bytes a record that is thousands of engines.
FIGURES = ENGINE_FIGURES


@dataclass(frozen=True)
class CatalogueEntry:
    fingerprint: str
    gpu_class: str
    backend: str
    built_at: str | None
    figures: Mapping[str, Any] = field(default_factory=dict)
    released_at: datetime | None = None

    def to_json(self) -> str:
        document = {
            "gpuClass": self.gpu_class,
            "backend": self.backend,
            "builtAt": self.built_at,
            **{key: self.figures[key] for key in FIGURES if key in self.figures},
            "releasedAt": None if self.released_at is None
            else self.released_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


def parse_entry(fingerprint: str, text: str) -> CatalogueEntry | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    return CatalogueEntry(
        fingerprint=fingerprint,
        gpu_class=str(document.get("gpuClass", "")),
        backend=str(document.get("backend", "")),
        built_at=document.get("builtAt"),
        figures={key: document[key] for key in FIGURES if key in document},
        released_at=parse_time(document.get("releasedAt")),
    )


def parse_catalogue(data: Mapping[str, str]) -> dict[str, CatalogueEntry]:
    entries = {}
    for fingerprint, text in data.items():
        entry = parse_entry(fingerprint, text)
        if entry is not None:
            entries[fingerprint] = entry
    return entries


def released(entry: CatalogueEntry, now: datetime) -> CatalogueEntry:
    return replace(entry, released_at=now.replace(microsecond=0))


def reclaimed(entry: CatalogueEntry) -> CatalogueEntry:
    return replace(entry, released_at=None)


def due_for_collection(entries: Iterable[CatalogueEntry], *, needed: set[str], serving: set[str],
                       now: datetime, grace_seconds: float) -> list[str]:
    """Fingerprints released at least `grace_seconds` ago that no model needs and no pod serves."""
    grace = timedelta(seconds=grace_seconds)
    return sorted(
        entry.fingerprint for entry in entries
        if entry.released_at is not None and now - entry.released_at >= grace
        and entry.fingerprint not in needed and entry.fingerprint not in serving
    )


def catalogue_configmap(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "labels": managed_labels(CATALOGUE_COMPONENT),
        },
        "data": {},
    }


def catalogue_reference(namespace: str, uid: str | None) -> dict[str, Any]:
    """The catalogue as an object reference, for events about engines no model holds."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": namespace, "uid": uid or ""}}


def owner_reference(uid: str) -> dict[str, Any]:
    """Build and cleanup Jobs belong to the catalogue: removing it removes them."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": NAME, "uid": uid,
            "blockOwnerDeletion": False, "controller": False}


def cleanup_cycle(entry: CatalogueEntry) -> str:
    """Which build and grace period of the engine a cleanup is for: a rebuilt engine has
    another builtAt, an engine released again another releasedAt."""
    released_at = None if entry.released_at is None \
        else entry.released_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"built={entry.built_at or ''};released={released_at or ''}"


def cleanup_job_name(entry: CatalogueEntry) -> str:
    """`engine-gc-<fingerprint>-<8 hex of the cycle>`: 35 characters, one Job per cycle."""
    digest = hashlib.sha256(cleanup_cycle(entry).encode()).hexdigest()[:8]
    return f"engine-gc-{entry.fingerprint}-{digest}"


def is_cleanup_of(job: Mapping[str, Any], entry: CatalogueEntry) -> bool:
    """Whether an existing Job is this cycle's cleanup of the entry's engine."""
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(CLEANUP_CYCLE_ANNOTATION) == cleanup_cycle(entry)
                and (job.get("metadata") or {}).get("labels", {}).get(FINGERPRINT_LABEL)
                == entry.fingerprint)


def cleanup_job(entry: CatalogueEntry, settings: Settings,
                owner_uid: str | None) -> dict[str, Any]:
    """The Job that removes `<store>/<fingerprint>/` (data plane's `classroom-inference gc`)."""
    fingerprint = entry.fingerprint
    labels = {**workload_labels(GC_COMPONENT), FINGERPRINT_LABEL: fingerprint}
    metadata: dict[str, Any] = {"name": cleanup_job_name(entry),
                                "namespace": settings.namespace, "labels": labels,
                                "annotations": {CLEANUP_CYCLE_ANNOTATION: cleanup_cycle(entry)}}
    if owner_uid is not None:
        metadata["ownerReferences"] = [owner_reference(owner_uid)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": settings.build_backoff_limit,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": settings.build_ttl_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "gc",
                        "image": settings.builder_image,
                        "command": ["classroom-inference", "gc", "--store", STORE_PATH,
                                    "--fingerprint", fingerprint],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        "volumeMounts": [{"name": "engines", "mountPath": STORE_PATH}],
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                    }],
                    "volumes": [{"name": "engines", "persistentVolumeClaim": {
                        "claimName": settings.engine_store_claim}}],
                },
            },
        },
    }
