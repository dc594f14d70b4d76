"""The operator's names in the API: its group and resources, and the labels and annotations it
puts on what it writes (docs/contracts.md lists them for the data plane). Defined once here so a
label key or the group cannot drift between the objects written and the watches that read them.
"""

from __future__ import annotations

import hashlib
import re

GROUP = "classroom-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
MODEL_KIND = "ClassroomModel"
# A ClassroomModel as (namespace, name).
ModelKey = tuple[str, str]
# (group, version, plural), as kopf's decorators take them.
MODELS = (GROUP, VERSION, "classroommodels")
CLASSROOMS = (GROUP, VERSION, "classrooms")

# Kubernetes' recommended labels.
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
APP = "classroom-inference"
MANAGER = "classroom-operator"

# The operator's own labels.
FINGERPRINT_LABEL = f"{GROUP}/fingerprint"
GPU_CLASS_LABEL = f"{GROUP}/gpu-class"
MODEL_LABEL = f"{GROUP}/model"
POOL_LABEL = f"{GROUP}/pool"

# Annotations of build Jobs.
ATTEMPT_ANNOTATION = f"{GROUP}/attempt"
BUILD_SPEC_HASH_ANNOTATION = f"{GROUP}/build-spec-sha256"
REQUESTED_BY_ANNOTATION = f"{GROUP}/requested-by"
# Annotation of cleanup Jobs: the engine's build and grace period they remove (catalogue.py).
CLEANUP_CYCLE_ANNOTATION = f"{GROUP}/cleanup-cycle"
# Annotations of inference pools: the hash of the object as last written, and a pool's
# hand-over records (rollout/pool_views.py describes them).
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-sha256"
HANDOVERS_ANNOTATION = f"{GROUP}/handovers"
# An old pool that gave up GPUs for its model's new engine (rollout/pool_views.py).
GPU_YIELD_ANNOTATION = f"{GROUP}/gpu-yield"

# Values of COMPONENT_LABEL: which part of the product an object is.
BUILD_COMPONENT = "engine-build"
GC_COMPONENT = "engine-gc"
CATALOGUE_COMPONENT = "engine-catalogue"
INFERENCE_COMPONENT = "inference"
PSEUDONYM_COMPONENT = "pseudonym-key"

LABEL_MAX = 63


def managed_labels(component: str) -> dict[str, str]:
    """The labels of every object the operator writes: which part it is, and who manages it."""
    return {COMPONENT_LABEL: component, MANAGED_BY_LABEL: MANAGER}


def workload_labels(component: str) -> dict[str, str]:
    """The labels of the operator's Jobs and pods: `managed_labels` and the app they run."""
    return {NAME_LABEL: APP, **managed_labels(component)}


def slug(text: str, limit: int) -> str:
    """`text` as a DNS label of at most `limit` characters starting with a letter; a shortened
    one keeps a hash of the whole, so two long names never collide."""
    value = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not value[:1].isalpha():
        value = f"m-{value}".rstrip("-")
    if len(value) <= limit and value == text:
        return value
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{value[: limit - 7].rstrip('-')}-{digest}"


def model_label(model: str) -> str:
    """The model's name as a label value (names may be longer than labels allow)."""
    return slug(model, LABEL_MAX)
