# classroom-operator: every target installs or builds what it needs first.
# The two commands a newcomer needs: `make demo` (the whole lifecycle, locally, on the CPU backend)
# and `make test`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCALCLUSTER := cd tests && ../$(PY) -m localcluster

.PHONY: crds demo test lint unit cluster-up cluster-down kubeconfig bench gpu-bench system-deps container-deps binaries images clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[operator,pod,gpu,dev]'
	touch $@

# FFmpeg feeds the RTSP test streams; Chromium drives the class view's browser tests. Installed
# from Debian's packages when missing.
system-deps:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "error: ffmpeg is missing; install it (apt-get install ffmpeg) and retry" >&2; exit 1; fi; \
	  echo "[make] installing ffmpeg from Debian's packages"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg >/dev/null; }
	@# Chromium and its driver: the class view's browser tests (tests/e2e/class_view).
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "error: chromium or chromedriver is missing; install them (apt-get install chromium chromium-driver) and retry" >&2; exit 1; fi; \
	  echo "[make] installing chromium and chromium-driver from Debian's packages"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The image builder (buildah, podman, mmdebstrap) and a real node's runtime (containerd, runc, the
# CNI plugins, iptables) from Debian's packages, installed when missing (root or sudo). Without
# either, the tests on containers are skipped and say why.
CONTAINER_TOOLS := buildah podman mmdebstrap containerd runc iptables
container-deps:
	@missing=; for tool in $(CONTAINER_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing=1; done; \
	[ -x /usr/lib/cni/bridge ] || missing=1; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "warning: no root or sudo: the tests on containers will be skipped (install buildah podman mmdebstrap containerd runc containernetworking-plugins iptables)" >&2; exit 0; fi; \
	  echo "[make] installing the image builder and container runtime from Debian's packages"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    buildah podman mmdebstrap containerd runc containernetworking-plugins iptables >/dev/null; }

# The operator and data-plane images from their Dockerfiles (buildah, no daemon), as OCI archives
# under ~/.cache/classroom-operator/images, cached by the content of their inputs.
images: $(VENV)/.installed container-deps
	cd tests && ../$(PY) -m localcluster.images

# etcd, Kubernetes (with the kubelet of the real node), kwok, helm and mediamtx (the RTSP server of the stream tests) from pinned Go modules, cached by version
# under ~/.cache/classroom-operator: minutes the first time, nothing after.
binaries: $(VENV)/.installed
	$(LOCALCLUSTER).toolchain >/dev/null
	cd tests && ../$(PY) -m streams.toolchain >/dev/null
	cd tests && ../$(PY) -m monitoring.toolchain >/dev/null

# On real kubelets (every pod a container from `make images`) where this machine can run them;
# elsewhere the node agent runs the pods as local processes, and the demo says why.
demo: $(VENV)/.installed binaries container-deps
	$(LOCALCLUSTER) demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(VENV)/.installed system-deps container-deps binaries lint
	$(VENV)/bin/pytest

cluster-up: $(VENV)/.installed binaries
	$(LOCALCLUSTER) up

cluster-down: $(VENV)/.installed
	$(LOCALCLUSTER) down

kubeconfig: $(VENV)/.installed
	@$(LOCALCLUSTER) kubeconfig

bench: $(VENV)/.installed system-deps binaries
	$(VENV)/bin/pytest -m bench tests/bench -s

# The chart ships a copy of crds/ (a test fails when they drift): `make crds` after editing crds/.
crds:
	cp crds/*.yaml helm/classroom-operator/crds/

clean:
	rm -rf $(VENV) bench-results
