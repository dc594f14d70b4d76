"""The largest specs the CRDs admit, built from the caps the CRDs declare: every string at its
maxLength, every list at its maxItems, every map at its maxProperties. Strings the schema leaves
free are filled with characters outside the Basic Multilingual Plane, which JSON with ASCII
escapes (how kopf records the handled spec in an annotation) writes as 12 bytes each."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from integration.admission.cases import SHA

CRDS = Path(__file__).resolve().parents[3] / "crds"

Obj = dict[str, Any]

WIDE = "\U0001f600"  # one character, 12 bytes once escaped as a surrogate pair


@cache
def spec_schema(kind: str) -> Obj:
    name = {"ClassroomModel": "classroommodels", "Classroom": "classrooms"}[kind]
    crd = yaml.safe_load((CRDS / f"{name}.classroom-operator.io.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    schema: Obj = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def node(kind: str, path: str) -> Obj:
    """The schema at a dotted path under spec; `[]` steps into list items, `{}` into map
    values."""
    current = spec_schema(kind)
    for key in path.split("."):
        if key == "[]":
            current = current["items"]
        elif key == "{}":
            current = current["additionalProperties"]
        else:
            current = current["properties"][key]
    return current


def cap(kind: str, path: str) -> int:
    schema = node(kind, path)
    for bound in ("maxLength", "maxItems", "maxProperties", "maximum"):
        if bound in schema:
            return int(schema[bound])
    raise AssertionError(f"{kind} spec.{path} declares no bound")


def total_streams_cap() -> int:
    """The cap on inline streams in all, from the CEL rule that enforces it."""
    for rule in spec_schema("ClassroomModel")["x-kubernetes-validations"]:
        found = re.search(r"size\(c\.streams\)\)\.sum\(\) <= (\d+)", rule["rule"])
        if found:
            return int(found.group(1))
    raise AssertionError("no rule caps the inline streams in all")


def fill(prefix: str, length: int, pad: str = "a", suffix: str = "") -> str:
    """`prefix`, padding, `suffix`: exactly `length` characters."""
    return prefix + pad * (length - len(prefix) - len(suffix)) + suffix


def dns_name(length: int, index: int = 0) -> str:
    """A DNS subdomain of exactly `length` characters, distinct per index."""
    return fill(f"n{index}-", length, "a")


def label_key(index: int) -> str:
    """A label key at the longest the label rules allow: a 253-character prefix and a
    63-character name."""
    return dns_name(253, index) + "/" + fill(f"k{index}-", 63, "b")


def label_value(index: int) -> str:
    return fill(f"v{index}-", 63, "c")


def url(scheme: str, length: int, index: int = 0) -> str:
    return fill(f"{scheme}://host-{index}.example.org/", length, "p")


def quantity(length: int) -> str:
    return fill("1.", length, "1", "Ki")


def largest_model_spec(inline: bool) -> Obj:
    kind = "ClassroomModel"
    m = "model"
    outputs = {head: fill(str(i), cap(kind, f"{m}.outputs.{head}"), WIDE)
               for i, head in enumerate(("attention", "emotion", "engagement"))}
    labels = [fill(chr(ord("a") + i % 26) * 2 + chr(ord("a") + i // 26),
                   cap(kind, f"{m}.emotionLabels.[]"), "x")
              for i in range(cap(kind, f"{m}.emotionLabels"))]
    tag = "t" * 128
    seconds = "serving.tolerations.[].tolerationSeconds"
    image_length = cap(kind, "engine.builderImage")
    spec: Obj = {
        "model": {
            "uri": url("https", cap(kind, f"{m}.uri")),
            "sha256": SHA,
            "input": {"name": fill("", cap(kind, f"{m}.input.name"), WIDE),
                      "shape": [3, 4096, 4096], "layout": "NCHW", "colorOrder": "BGR",
                      "mean": [0.4850000000000001] * 3, "std": [0.22900000000000001] * 3},
            "outputs": outputs,
            "emotionLabels": labels,
        },
        "engine": {
            "precision": "int8",
            "calibration": {"uri": url("https", cap(kind, "engine.calibration.uri")),
                            "sha256": SHA, "samples": cap(kind, "engine.calibration.samples")},
            "batch": {"min": 1024, "opt": 1024, "max": 1024},
            "workspaceMiB": cap(kind, "engine.workspaceMiB"),
            "timingCache": False, "hardwareCompatibility": "ampere+", "versionCompatible": False,
            "builderImage": fill("registry.example.org/", image_length - 1 - len(tag), "i")
            + ":" + tag,
        },
        "validation": {
            "uri": url("https", cap(kind, "validation.uri")), "sha256": SHA,
            "samples": cap(kind, "validation.samples"),
            "maxAttentionError": 0.012345678901234567,
            "minEmotionAgreement": 0.012345678901234567,
            "maxEngagementError": 0.012345678901234567,
            "maxLatencyRegressionPercent": 999.0123456789012,
        },
        "serving": {
            "targetFps": 120, "maxLatencyMs": 60000,
            "replicas": {"min": 1024, "max": 1024},
            "nodeSelector": {label_key(i): label_value(i)
                             for i in range(cap(kind, "serving.nodeSelector"))},
            "tolerations": [{"key": label_key(i),
                             "operator": "Equal", "value": label_value(i),
                             "effect": "NoExecute",
                             "tolerationSeconds": cap(kind, seconds)}
                            for i in range(cap(kind, "serving.tolerations"))],
            "resources": {
                which: {label_key(i):
                        quantity(cap(kind, f"serving.resources.{which}.{{}}"))
                        for i in range(cap(kind, f"serving.resources.{which}"))}
                for which in ("requests", "limits")},
        },
        "analysis": {"distractedAfterSeconds": 3599.0123456789012,
                     "attentionThreshold": 0.012345678901234567,
                     "smoothingSeconds": 599.0123456789012,
                     "summaryEverySeconds": 86399.01234567890},
        "sink": {"webhook": {
            "url": url("https", cap(kind, "sink.webhook.url")),
            "secretRef": {"name": dns_name(cap(kind, "sink.webhook.secretRef.name")),
                          "key": fill("k", cap(kind, "sink.webhook.secretRef.key"), "k"),
                          "signingKey": fill("s", cap(kind, "sink.webhook.secretRef.signingKey"),
                                             "s")}}},
    }
    if inline:
        rooms = cap(kind, "classrooms")
        per_room = min(cap(kind, "classrooms.[].streams"), total_streams_cap() // rooms)
        secret = cap(kind, "classrooms.[].credentialsSecretRef.name")
        spec["classrooms"] = [{
            "name": fill(f"room-{r}-", cap(kind, "classrooms.[].name"), "r"),
            "seats": cap(kind, "classrooms.[].seats"),
            "credentialsSecretRef": {"name": dns_name(secret, r)},
            "streams": [{"url": url("rtsps", cap(kind, "classrooms.[].streams.[].url"),
                                    r * 1000 + s),
                         "layout": "per-student",
                         "credentialsSecretRef": {"name": dns_name(secret, r * 1000 + s)}}
                        for s in range(per_room)],
        } for r in range(rooms)]
    else:
        expressions = "classroomSelector.matchExpressions"
        spec["classroomSelector"] = {
            "matchLabels": {label_key(i): label_value(i)
                            for i in range(cap(kind, "classroomSelector.matchLabels"))},
            "matchExpressions": [{
                "key": label_key(i), "operator": "NotIn",
                "values": [label_value(v) for v in range(cap(kind, f"{expressions}.[].values"))],
            } for i in range(cap(kind, expressions))],
        }
    return spec


def largest_classroom_spec() -> Obj:
    kind = "Classroom"
    secret = cap(kind, "credentialsSecretRef.name")
    return {
        "school": fill("", cap(kind, "school"), WIDE),
        "grade": fill("", cap(kind, "grade"), WIDE),
        "seats": cap(kind, "seats"),
        "credentialsSecretRef": {"name": dns_name(secret)},
        "streams": [{"url": url("rtsps", cap(kind, "streams.[].url"), s), "layout": "per-student",
                     "credentialsSecretRef": {"name": dns_name(secret, s)}}
                    for s in range(cap(kind, "streams"))],
    }
