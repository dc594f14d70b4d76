"""The replace block that lets k8s.io/kubernetes build as a dependency, made from its go.mod."""

from __future__ import annotations

from localcluster.toolchain import staging_replaces

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.25.0

require (
\tgithub.com/spf13/cobra v1.9.1
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tk8s.io/klog/v2 v2.130.1
\tk8s.io/kube-openapi v0.0.0-20250710124328-f3f2b991d03b
)

require (
\tk8s.io/cri-client v0.0.0 // indirect
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
)
"""


def test_every_staging_module_is_replaced_by_its_published_version() -> None:
    assert staging_replaces(KUBERNETES_GO_MOD, "v1.36.3") == [
        "k8s.io/api => k8s.io/api v0.36.3",
        "k8s.io/client-go => k8s.io/client-go v0.36.3",
        "k8s.io/cri-client => k8s.io/cri-client v0.36.3",
    ]


def test_modules_with_real_versions_are_left_alone() -> None:
    replaced = " ".join(staging_replaces(KUBERNETES_GO_MOD, "v1.36.3"))
    assert "klog" not in replaced and "kube-openapi" not in replaced and "cobra" not in replaced


def test_each_module_is_replaced_once() -> None:
    lines = staging_replaces(KUBERNETES_GO_MOD, "v1.36.3")
    assert len(lines) == len(set(lines))
