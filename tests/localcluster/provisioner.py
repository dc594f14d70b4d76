"""The local volume provisioner: a folder per PersistentVolumeClaim, as an external provisioner.

The cluster's default StorageClass `local` names this provisioner. For every pending claim of such
a class it creates a hostPath PersistentVolume on <state>/volumes/<namespace>/<claim> with the
claim's access modes (ReadWriteMany included: every local process sees the same folder) and a
claimRef, and the controller-manager binds them. A released volume with reclaim policy Delete
loses its folder and its object. Started by the control plane as the component "provisioner",
with its own identity bound to the ClusterRole below.

    python -m localcluster.provisioner --state <state dir>
"""

from __future__ import annotations

import argparse
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from localcluster.kubeapi import Api, ApiError, Credentials

Object = dict[str, Any]

PROVISIONER = "localcluster.classroom-operator.io/hostpath"
STORAGE_CLASS = "local"
IDENTITY = "system:localcluster:provisioner"
POLL = 0.5

STORAGE_CLASS_OBJECT: Object = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": STORAGE_CLASS,
                 "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
}
CLUSTER_ROLE: Object = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "localcluster:provisioner"},
    "rules": [
        {"apiGroups": [""], "resources": ["persistentvolumes"],
         "verbs": ["get", "list", "watch", "create", "delete"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ],
}
CLUSTER_ROLE_BINDING: Object = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "localcluster:provisioner"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "localcluster:provisioner"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": IDENTITY}],
}


def volume_for(claim: Object, folder: Path, reclaim_policy: str) -> Object:
    meta, spec = claim["metadata"], claim["spec"]
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}",
                     "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get(
                "storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "persistentVolumeReclaimPolicy": reclaim_policy,
            "storageClassName": spec["storageClassName"],
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
            "hostPath": {"path": str(folder), "type": "DirectoryOrCreate"},
        },
    }


class Provisioner:
    def __init__(self, api: Api, volumes: Path) -> None:
        self.api, self.volumes = api, volumes

    def once(self) -> None:
        classes = {
            c["metadata"]["name"]: c.get("reclaimPolicy", "Delete")
            for c in self.api.get("/apis/storage.k8s.io/v1/storageclasses")["items"]
            if c.get("provisioner") == PROVISIONER
        }
        volumes = self.api.get("/api/v1/persistentvolumes")["items"]
        existing = {v["metadata"]["name"] for v in volumes}
        for claim in self.api.get("/api/v1/persistentvolumeclaims")["items"]:
            spec = claim["spec"]
            if spec.get("volumeName") or spec.get("storageClassName") not in classes:
                continue
            if f"pvc-{claim['metadata']['uid']}" in existing:
                continue
            folder = self.volumes / claim["metadata"]["namespace"] / claim["metadata"]["name"]
            folder.mkdir(parents=True, exist_ok=True)
            try:
                self.api.create("/api/v1/persistentvolumes",
                                volume_for(claim, folder, classes[spec["storageClassName"]]))
            except ApiError as error:
                if error.status != 409:
                    raise
        for volume in volumes:
            annotations = volume["metadata"].get("annotations", {})
            if (annotations.get("pv.kubernetes.io/provisioned-by") == PROVISIONER
                    and volume.get("status", {}).get("phase") == "Released"
                    and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
                shutil.rmtree(volume["spec"]["hostPath"]["path"], ignore_errors=True)
                self.api.delete(f"/api/v1/persistentvolumes/{volume['metadata']['name']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.provisioner")
    parser.add_argument("--state", type=Path, required=True, help="the cluster's state folder")
    args = parser.parse_args(argv)
    api = Api(Credentials.from_kubeconfig(args.state / "provisioner.kubeconfig"))
    provisioner = Provisioner(api, args.state / "volumes")
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    while not stopping.is_set():
        try:
            provisioner.once()
        except Exception:
            print(time.strftime("%H:%M:%S"), traceback.format_exc(), flush=True)
        stopping.wait(POLL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
