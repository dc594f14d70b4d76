"""`make demo`: the whole lifecycle on the local cluster, CPU backend, as a platform engineer
sees it.

1. The local cluster comes up (or is reused): a real control plane and two GPU classes of nodes
   (A100 and L4, driver 550, labelled as GPU Feature Discovery labels them). Where this machine
   can (root, containerd, runc, buildah: see docs/containers.md), each is run by a real kubelet
   and every pod is a container from the images of `make images`, in a namespace enforcing the
   restricted Pod Security Standard; elsewhere the node agent runs pods as local processes.
2. The Helm chart installs the operator, configured for the local default (every engine built for
   the ONNX Runtime CPU backend, since no node here really has a GPU).
3. A ClassroomModel is applied: the builder's reference model, two classrooms of per-student
   cameras (recorded videos, decoded by FFmpeg), and a webhook this script receives labels on.
4. `kubectl get classroommodels` goes from Building to Ready: one engine built and validated per
   GPU class, inference pods per pool, every stream healthy. Labels and alerts reach the webhook.
   The class view (the teachers' page) shows a room live to a teacher's token.
5. The A100 node's driver is upgraded (relabelled 550 -> 580, as the GPU Operator would): the
   operator builds the engine that is now missing, validates it, rolls that pool over, and every
   classroom stays assigned to a ready pod throughout.

Everything stays running afterwards for exploring; `make cluster-down` stops it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from localcluster.cluster import LocalCluster
from localcluster.images import INFERENCE, OPERATOR, image_reference
from localcluster.nodes import a100, driver_labels, l4
from localcluster.processes import free_port
from localcluster.toolchain import cache_root

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "classroom-operator"
CRDS = REPO / "crds"
RELEASE = "classroom-operator"
SYSTEM_NAMESPACE = "classroom-system"
# The model lives beside the operator, where the chart's engine store claim is; a model in another
# namespace needs a claim of the same name on the same storage there (docs/contracts.md).
NAMESPACE = SYSTEM_NAMESPACE
MODEL = "attention-demo"
UPGRADED_NODE = "gpu-a100-0"
STARTING_DRIVER = "550.54.15"
UPGRADED_DRIVER = "580.65.06"
READY_TIMEOUT = 600.0
STORE_PATH = "/var/lib/classroom/engines"  # where the operator's Jobs and pods mount the store
APP_UID = 65532
STREAMS_PER_ROOM = 3
ROOMS = ("room-101", "room-102")


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


# -- the model and the camera recordings ----------------------------------------------------------


def reference_model(work: Path) -> dict[str, Any]:
    """`classroom-inference reference-model`: its `model:` spec (uri, sha256, input, outputs)."""
    path = work / "reference-224.onnx"
    out = subprocess.run(
        [str(Path(sys.executable).parent / "classroom-inference"), "reference-model",
         "--out", str(path), "--size", "224"],
        check=True, capture_output=True, text=True).stdout
    model: dict[str, Any] = json.loads(out)["model"]
    assert model["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # The chart's default policy (compliance.emotion=disabled; EU AI Act Art. 5(1)(f)) refuses
    # a model mapping the emotion head, so the demo serves attention and engagement.
    model["outputs"].pop("emotion", None)
    return model


def student_videos(work: Path) -> list[Path]:
    """One recording per seat: a face that is well lit (attentive) for a while, then dark
    (distracted) for longer than the demo's alert threshold, each seat out of phase."""
    from streams.videos import face, write_video

    videos = []
    tile = face(160).astype("float32")
    for seat in range(STREAMS_PER_ROOM):
        path = work / f"seat-{seat}.mp4"
        if not path.exists():
            fps, seconds = 15, 30
            lit_until = (8 + 5 * seat) * fps

            def draw(i: int, lit_until: int = lit_until) -> Any:
                import numpy as np

                scale = 1.1 if i < lit_until else 0.25
                grey = np.clip(tile * scale, 0, 255).astype(np.uint8)
                return np.repeat(grey[:, :, None], 3, axis=2)

            write_video(path, fps * seconds, draw, fps=fps)
        videos.append(path)
    return videos


def classroom_model(model: dict[str, Any], videos: list[str], webhook: str,
                    serving: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "classroom-operator.io/v1alpha1",
        "kind": "ClassroomModel",
        "metadata": {"name": MODEL, "namespace": NAMESPACE},
        "spec": {
            "model": model,
            "engine": {"precision": "fp16", "batch": {"min": 1, "opt": 32, "max": 64}},
            "validation": {"samples": 64},
            "serving": {"targetFps": 15, "replicas": {"min": 1, "max": 2}, **(serving or {})},
            "analysis": {"distractedAfterSeconds": 10, "attentionThreshold": 0.5,
                         "smoothingSeconds": 1, "summaryEverySeconds": 15},
            "sink": {"webhook": {"url": webhook}},
            "classrooms": [
                {"name": room, "streams": [{"url": f"{video}?loop=1"} for video in videos]}
                for room in ROOMS
            ],
        },
    }


# -- the webhook the labels arrive at ------------------------------------------------------------


@dataclass
class Inbox:
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: Any) -> None:
        items = body.get("events", body) if isinstance(body, dict) else body
        with self.lock:
            self.events.extend(item for item in items if isinstance(item, dict))

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for event in self.events if event.get("type") == kind)

    def first(self, kind: str) -> dict[str, Any] | None:
        with self.lock:
            return next((e for e in self.events if e.get("type") == kind), None)


def start_webhook(inbox: Inbox, host: str = "127.0.0.1") -> str:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                inbox.add(json.loads(self.rfile.read(length)))
            except json.JSONDecodeError:
                self.send_response(400)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, free_port(host)), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{host}:{server.server_address[1]}/v1/events"


# -- watching the ClassroomModel ------------------------------------------------------------------


def model_status(cluster: LocalCluster) -> dict[str, Any]:
    out = cluster.kubectl("get", "classroommodel", MODEL, "-n", NAMESPACE, "-o", "json").stdout
    status: dict[str, Any] = json.loads(out).get("status") or {}
    return status


def columns(status: dict[str, Any]) -> str:
    summary = status.get("summary") or {}
    return (f"{status.get('phase', '-'):<10} engines {summary.get('engines', '-'):<5} "
            f"pods {summary.get('pods', '-'):<5} streams {summary.get('streams', '-')}")


def watch(cluster: LocalCluster, until: Callable[[dict[str, Any]], bool], began: float,
          also: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Print each change of the printer columns (as `kubectl get -w` would) until `until`."""
    shown = ""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        status = model_status(cluster)
        line = columns(status)
        if line != shown:
            print(f"  {time.monotonic() - began:6.1f}s  {MODEL}  {line}", flush=True)
            shown = line
        if also is not None:
            also(status)
        if until(status):
            return status
        time.sleep(1.0)
    raise TimeoutError(f"{MODEL} did not get there within {READY_TIMEOUT:.0f}s; last: {shown}\n"
                       f"see `kubectl describe classroommodel {MODEL} -n {NAMESPACE}` and the "
                       f"pod logs under {cluster.logs_dir / 'pods'}")


def ready(status: dict[str, Any]) -> bool:
    streams = status.get("streams") or {}
    return (status.get("phase") == "Ready" and streams.get("assigned", 0) > 0
            and streams.get("healthy") == streams.get("assigned"))


def fingerprints(status: dict[str, Any]) -> dict[str, str]:
    """GPU class -> fingerprint of the engine its pool serves."""
    return {pool["gpuClass"]: pool.get("engine", "") for pool in status.get("pools") or []}


# -- the demo -------------------------------------------------------------------------------------


def install_chart(cluster: LocalCluster, containers: bool = False) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    images: list[str] = []
    if containers:
        cluster.kubectl("create", "namespace", SYSTEM_NAMESPACE, check=False)
        cluster.kubectl("label", "--overwrite", "namespace", SYSTEM_NAMESPACE,
                        "pod-security.kubernetes.io/enforce=restricted",
                        "pod-security.kubernetes.io/enforce-version=latest")
        repository, tag = image_reference(OPERATOR).rsplit(":", 1)
        images = ["--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
                  "--set", "image.pullPolicy=Never",
                  "--set", f"builder.image={image_reference(INFERENCE)}"]
    cluster.helm(
        "upgrade", "--install", RELEASE, str(CHART), "--namespace", SYSTEM_NAMESPACE,
        "--create-namespace", "--wait", "--timeout", "5m",
        "--set", "engines.gpuBackend=onnxruntime-cpu",
        "--set", "engines.gcGraceSeconds=60", *images,
        "--set", "classview.enabled=true",
        timeout=360.0)


# -- the class view --------------------------------------------------------------------------------


def classview_url(cluster: LocalCluster) -> str:
    """The class view's address: its pod's IP (the node agent gives each pod a 127.x address)."""
    ip = cluster.kubectl("get", "pods", "-n", SYSTEM_NAMESPACE, "-l",
                         "app.kubernetes.io/component=classview", "-o",
                         "jsonpath={.items[0].status.podIP}").stdout.strip()
    return f"http://{ip}:8090"


def teacher_token(cluster: LocalCluster) -> str:
    """A teacher allowed to see the demo's classrooms (inline ones: `get` on their model)."""
    rbac = "rbac.authorization.k8s.io"
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "teacher-demo", "namespace": NAMESPACE}},
        {"apiVersion": f"{rbac}/v1", "kind": "Role",
         "metadata": {"name": "view-attention-demo", "namespace": NAMESPACE},
         "rules": [{"apiGroups": ["classroom-operator.io"], "resources": ["classroommodels"],
                    "resourceNames": [MODEL], "verbs": ["get"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding",
         "metadata": {"name": "teacher-demo-views-attention-demo", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "view-attention-demo"},
         "subjects": [{"kind": "ServiceAccount", "name": "teacher-demo",
                       "namespace": NAMESPACE}]},
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                          "items": objects}))
    return cluster.kubectl("create", "token", "teacher-demo", "-n", NAMESPACE,
                           "--duration=8h").stdout.strip()


def view_room(url: str, token: str, room: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/api/rooms/{NAMESPACE}/{room}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        picture: dict[str, Any] = json.load(response)
    return picture


def show_class_view(cluster: LocalCluster) -> str:
    """The view's URL; prints what a teacher sees of one room, an alert from it included."""
    url = classview_url(cluster)
    token = teacher_token(cluster)
    room = ROOMS[0]
    picture = view_room(url, token, room)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not picture["alerts"]:
        time.sleep(2.0)
        picture = view_room(url, token, room)
    summary = picture.get("summary") or {}
    print(f"  class view: {url}/  (sign in with: kubectl create token teacher-demo -n "
          f"{NAMESPACE})\n"
          f"  {room}: {len(picture['students'])} students, streams "
          f"{', '.join(s['id'] + ' ' + s['state'] for s in picture['streams'])}; "
          f"mean attention {summary.get('attentionMean')}")
    for alert in picture["alerts"][:1]:
        print(f"  an alert on the class view: {alert['student']} {alert['alert']}, open for "
              f"{alert['ageSeconds']:.0f} s")
    return url




def start_real_nodes(cluster: LocalCluster) -> str:
    """A fresh cluster whose two GPU nodes are run by real kubelets; the address (a node's
    gateway on this machine) that pods reach this machine at."""
    cluster.stop()
    # The node agent must not register nodes of an earlier run under the same names.
    for described in cluster.nodes_dir.glob("*.json"):
        described.unlink()
    cluster.start(nodes=[])
    nodes = [a100(UPGRADED_NODE, count=2), l4("gpu-l4-0", count=2)]
    names = {node.name for node in nodes}
    for stale in cluster.kubectl("get", "nodes", "-o", "name").stdout.split():
        if stale.removeprefix("node/") not in names:
            cluster.kubectl("delete", stale, "--wait=false")
    first = cluster.add_real_node(nodes[0])
    cluster.add_real_node(nodes[1])
    return first.gateway


def engine_store_folder(cluster: LocalCluster) -> Path:
    """The folder on this machine of the chart's engine store volume, writable by the images'
    user (the local provisioner makes it root's)."""
    claims = json.loads(cluster.kubectl("get", "pvc", "-n", SYSTEM_NAMESPACE, "-o",
                                        "json").stdout)["items"]
    [claim] = [c for c in claims if c["metadata"]["name"].endswith("engines")]
    volume = json.loads(cluster.kubectl("get", "pv", claim["spec"]["volumeName"], "-o",
                                        "json").stdout)
    folder = Path(volume["spec"]["hostPath"]["path"])
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, APP_UID, APP_UID)
    return folder


def onto_the_store(folder: Path, model: dict[str, Any], videos: list[Path]
                   ) -> tuple[dict[str, Any], list[str]]:
    """Copies of the model and recordings in the engine store, named by the path the operator's
    Jobs and pods mount it at: a path on this machine means nothing inside a container."""
    inputs = folder / "demo-inputs"
    inputs.mkdir(exist_ok=True)
    os.chown(inputs, APP_UID, APP_UID)
    model_file = Path(model["uri"].removeprefix("file://"))
    for source in [model_file, *videos]:
        shutil.copyfile(source, inputs / source.name)
        os.chown(inputs / source.name, APP_UID, APP_UID)
    moved = {**model, "uri": f"file://{STORE_PATH}/demo-inputs/{model_file.name}"}
    return moved, [f"file://{STORE_PATH}/demo-inputs/{video.name}" for video in videos]


def run(cluster: LocalCluster, containers: bool = False) -> int:
    """The demo on `cluster`; with `containers`, on a fresh start of it whose nodes are run by
    real kubelets (every pod a container)."""
    began = time.monotonic()
    work = cache_root() / "demo"
    work.mkdir(parents=True, exist_ok=True)

    host = "127.0.0.1"
    if containers:
        say("Local cluster: a real control plane and two GPU nodes run by real kubelets "
            "(containerd, runc); every pod a container")
        host = start_real_nodes(cluster)
    else:
        say("Local cluster: a real control plane, simulated GPU nodes, pods run as local "
            "processes")
    if not containers and not cluster.running():
        cluster.stop()
        cluster.start()
    # A second run starts from the same place: the upgraded node back on the starting driver.
    cluster.relabel_node(UPGRADED_NODE, dict(driver_labels(STARTING_DRIVER)))
    print(cluster.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product,"
                          "nvidia.com/cuda.driver-version.full").stdout, end="")

    say(f"helm install {RELEASE} (ONNX Runtime CPU backend for every GPU class)")
    install_chart(cluster, containers)
    print(cluster.kubectl("get", "pods", "-n", SYSTEM_NAMESPACE, "-o", "wide").stdout, end="")

    say("The model and the classroom cameras: reference model, recorded per-student videos")
    model = reference_model(work)
    videos = student_videos(work)
    urls = [video.as_uri() for video in videos]
    serving: dict[str, Any] = {}
    if containers:
        model, urls = onto_the_store(engine_store_folder(cluster), model, videos)
        # Both nodes are this machine: a pod may ask for a fifth of its CPUs, so a rollover's
        # second pod fits beside the first.
        serving = {"resources": {"requests": {"cpu": "200m", "memory": "512Mi"}}}
    inbox = Inbox()
    webhook = start_webhook(inbox, host)
    print(f"  model {model['uri']} (sha256 {model['sha256'][:12]}...)\n"
          f"  {len(ROOMS)} classrooms x {STREAMS_PER_ROOM} student cameras; labels -> {webhook}")

    say(f"kubectl apply ClassroomModel {NAMESPACE}/{MODEL}; watching kubectl get classroommodels")
    cluster.kubectl("delete", "classroommodel", MODEL, "-n", NAMESPACE, "--ignore-not-found",
                    "--wait=true")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(
        classroom_model(model, urls, webhook, serving)))
    applied = time.monotonic()
    status = watch(cluster, ready, applied)
    print(f"  Ready {time.monotonic() - applied:.1f}s after apply")
    for engine in status.get("engines") or []:
        throughput = engine.get("throughput") or {}
        print(f"  engine {engine['fingerprint']} {engine['gpuClass']:<34} {engine['state']:<6} "
              f"built in {engine.get('buildSeconds', '?')}s, {throughput}")
    for pool in status.get("pools") or []:
        print(f"  pool {pool['gpuClass']:<36} pods {pool.get('readyReplicas')}/"
              f"{pool.get('replicas')} streams {pool.get('streamsHealthy')}/"
              f"{pool.get('streamsAssigned')}")

    say("Labels arriving at the webhook (pseudonymous ids; no pixels, no camera URLs)")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not inbox.first("alert"):
        time.sleep(1.0)
    with inbox.lock:
        kinds = sorted({str(e.get("type")) for e in inbox.events})
    print(f"  {len(inbox.events)} events so far, of kinds {', '.join(kinds) or 'none yet'}")
    alert = inbox.first("alert")
    if alert:
        print(f"  a teacher alert: {json.dumps(alert)[:300]}")

    say("The class view: what a teacher allowed to see the model's rooms sees, live")
    view = show_class_view(cluster)

    say(f"Driver upgrade on {UPGRADED_NODE}: {STARTING_DRIVER} -> {UPGRADED_DRIVER} "
        "(GFD relabels the node)")
    before = fingerprints(status)
    cluster.relabel_node(UPGRADED_NODE, dict(driver_labels(UPGRADED_DRIVER)))
    upgraded = time.monotonic()
    unserved: list[str] = []
    fewest_healthy = [len(ROOMS) * STREAMS_PER_ROOM]

    def every_room_served(seen: dict[str, Any]) -> None:
        streams = seen.get("streams") or {}
        if streams.get("assigned", 0) < len(ROOMS) * STREAMS_PER_ROOM:
            unserved.append(f"{time.monotonic() - upgraded:.1f}s: {streams}")
        fewest_healthy[0] = min(fewest_healthy[0], streams.get("healthy", 0))

    def rolled_over(seen: dict[str, Any]) -> bool:
        now = fingerprints(seen)
        return ready(seen) and bool(now) and now != before and len(now) == len(before)

    status = watch(cluster, rolled_over, upgraded, also=every_room_served)
    after = fingerprints(status)
    for gpu_class, engine in after.items():
        note = "unchanged" if before.get(gpu_class) == engine else "rebuilt and rolled over"
        print(f"  {gpu_class:<36} engine {engine} ({note})")
    print(f"  rolled over {time.monotonic() - upgraded:.1f}s after the relabel; "
          + ("every stream stayed assigned to a ready pod throughout" if not unserved
             else f"streams unassigned at: {'; '.join(unserved)}")
          + f"; fewest streams healthy at once: {fewest_healthy[0]} of "
            f"{len(ROOMS) * STREAMS_PER_ROOM} (a moved room stays on its old pod until the new "
            "one serves it)")

    say("Explore")
    output = (f"kubectl logs -n {SYSTEM_NAMESPACE} <pod>   (containers on real kubelets)"
              if containers else f"pod output: {cluster.logs_dir / 'pods'}/<namespace>/<pod>/")
    print(f"  export KUBECONFIG={cluster.kubeconfig}\n"
          f"  kubectl get classroommodels -A\n"
          f"  kubectl describe classroommodel {MODEL} -n {NAMESPACE}\n"
          f"  kubectl get jobs,statefulsets,pods -A -L classroom-operator.io/fingerprint\n"
          f"  {output}\n"
          f"  class view: {view}/  (token: kubectl create token teacher-demo -n {NAMESPACE})\n"
          f"  make cluster-down   # stop everything")
    print(f"\ndemo finished in {time.monotonic() - began:.0f}s")
    return 0 if not unserved else 1
