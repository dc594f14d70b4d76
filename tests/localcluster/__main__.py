"""The local cluster for people: `python -m localcluster <command>` (from the tests folder).

    up [--name local]           start the control plane, node agent and default GPU nodes; detach
    down [--purge]              stop everything (--purge also removes the state folder)
    kubeconfig                  print the running cluster's kubeconfig path
    status                      components and nodes
    nodes                       list nodes with their GPU labels
    nodes add PRESET NAME       add a node: PRESET is a100, h100, l4, t4 or cpu
          [--kwok | --real] [--driver 550.54.15] [--count 1]
    nodes relabel NAME KEY=VALUE... KEY-    set or remove labels (as GFD would)
    nodes swap NAME PRESET|cpu [--driver ...]   the node's GPU changed: GFD labels and capacity
    demo [--processes]          the whole lifecycle on the local default (see localcluster/demo.py):
                                on real kubelets (containers) where this machine can
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from localcluster.cluster import CommandFailed, LocalCluster, default_state
from localcluster.images import ImageError
from localcluster.nodes import PRESETS, CpuNode, GpuNode, Runner
from localcluster.processes import ComponentFailed
from localcluster.realnode import RealNodeError, missing_capabilities
from localcluster.toolchain import ToolchainError


def _cluster(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster(args.state or default_state(args.name))


def _gpu(preset: str, name: str, args: argparse.Namespace) -> GpuNode | CpuNode:
    runner: Runner = "kwok" if getattr(args, "kwok", False) else "agent"
    if preset == "cpu":
        return CpuNode(name, runner=runner)
    if preset not in PRESETS:
        raise SystemExit(f"error: preset {preset!r} is unknown; use one of "
                         f"{', '.join([*PRESETS, 'cpu'])}")
    overrides: dict[str, object] = {"runner": runner}
    if args.driver:
        overrides["driver"] = args.driver
    if getattr(args, "count", None):
        overrides["count"] = args.count
    return PRESETS[preset](name, **overrides)


def up(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if cluster.running():
        print(f"already running: export KUBECONFIG={cluster.kubeconfig}")
        return 0
    cluster.stop()  # whatever is left of an earlier run
    began = time.monotonic()
    cluster.start()
    print(f"local cluster up in {time.monotonic() - began:.1f}s: "
          f"API {cluster.describe()['server']}, nodes {', '.join(cluster.agent_nodes)}")
    print(f"\n  export KUBECONFIG={cluster.kubeconfig}\n  kubectl get nodes -L "
          "nvidia.com/gpu.product,nvidia.com/cuda.driver-version.full\n")
    print(f"Pods on the agent's nodes run as local processes; their output is under "
          f"{cluster.logs_dir / 'pods'}/<namespace>/<pod>/. Stop with `make cluster-down`.")
    return 0


def demo(args: argparse.Namespace) -> int:
    from localcluster.demo import run

    lacking = [] if args.processes else missing_capabilities() + [
        f"{tool} (make container-deps)" for tool in ("buildah", "podman", "mmdebstrap")
        if shutil.which(tool) is None]
    if lacking:
        print(f"[demo] pods run as local processes: this machine lacks {'; '.join(lacking)}",
              file=sys.stderr)
    return run(_cluster(args), containers=not args.processes and not lacking)


def down(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if args.purge:
        cluster.purge()
        print(f"stopped; removed {cluster.state}")
    else:
        cluster.stop()
        print(f"stopped; state kept in {cluster.state}")
    return 0


def kubeconfig(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if not cluster.running():
        print("error: no local cluster is running; start one with `make cluster-up`",
              file=sys.stderr)
        return 1
    print(cluster.kubeconfig)
    return 0


def status(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    try:
        cluster.check_alive()
    except ComponentFailed as failure:
        print(f"not running: {failure}")
        return 1
    print(f"running: KUBECONFIG={cluster.kubeconfig}")
    return nodes(args)


def nodes(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    action = getattr(args, "action", None)
    if action == "add" and args.real:
        cluster.add_real_node(_gpu(args.preset, args.node, args))
    elif action == "add":
        cluster.add_nodes(_gpu(args.preset, args.node, args))
    elif action == "relabel":
        labels: dict[str, str | None] = {}
        for item in args.labels:
            if item.endswith("-") and "=" not in item:
                labels[item[:-1]] = None
            elif "=" in item:
                key, value = item.split("=", 1)
                labels[key] = value
            else:
                raise SystemExit(f"error: label {item!r}: use KEY=VALUE to set or KEY- to remove")
        cluster.relabel_node(args.node, labels)
    elif action == "swap":
        gpu = _gpu(args.preset, args.node, args)
        cluster.swap_gpu(args.node, gpu if isinstance(gpu, GpuNode) else None)
    listing = cluster.kubectl(
        "get", "nodes", "-L", "nvidia.com/gpu.product,nvidia.com/gpu.count,"
        "nvidia.com/cuda.driver-version.full,type")
    print(listing.stdout, end="")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m localcluster",
                                   description="A real local Kubernetes for classroom-operator.")
    main.add_argument("--name", default="local", help="cluster name (state folder name)")
    main.add_argument("--state", type=Path, help="state folder (default: "
                      "~/.cache/classroom-operator/clusters/<name>)")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start and detach").set_defaults(run=up)
    show = commands.add_parser("demo", help="the whole lifecycle: chart, model, rollout, driver "
                               "upgrade; on real kubelets (containers) where this machine can")
    show.add_argument("--processes", action="store_true",
                      help="run the pods as local processes of the node agent instead")
    show.set_defaults(run=demo)
    stop = commands.add_parser("down", help="stop everything")
    stop.add_argument("--purge", action="store_true", help="also remove the state folder")
    stop.set_defaults(run=down)
    commands.add_parser("kubeconfig", help="print the kubeconfig path").set_defaults(
        run=kubeconfig)
    commands.add_parser("status", help="components and nodes").set_defaults(run=status)
    node = commands.add_parser("nodes", help="list, add, relabel or swap nodes")
    node.set_defaults(run=nodes)
    actions = node.add_subparsers(dest="action")
    add = actions.add_parser("add", help="add a simulated node")
    add.add_argument("preset", help=f"one of {', '.join([*PRESETS, 'cpu'])}")
    add.add_argument("node", help="node name")
    add.add_argument("--kwok", action="store_true", help="kwok simulates it (nothing runs)")
    add.add_argument("--real", action="store_true",
                     help="a real kubelet runs it: containers from `make images` (one per cluster)")
    add.add_argument("--driver", help="CUDA driver version, e.g. 550.54.15")
    add.add_argument("--count", type=int, help="GPUs on the node")
    relabel = actions.add_parser("relabel", help="set (KEY=VALUE) or remove (KEY-) labels")
    relabel.add_argument("node")
    relabel.add_argument("labels", nargs="+")
    swap = actions.add_parser("swap", help="the node's GPU or driver changed")
    swap.add_argument("node")
    swap.add_argument("preset", help=f"one of {', '.join([*PRESETS, 'cpu'])}")
    swap.add_argument("--driver", help="CUDA driver version, e.g. 570.86.15")
    swap.add_argument("--count", type=int)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (ComponentFailed, ToolchainError, CommandFailed, TimeoutError, ValueError,
            RealNodeError, ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
