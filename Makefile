# The two set-up commands: `make demo` (the suite against the simulated cluster) and
# `make test` (the project's own tests). Both install everything they need on first use.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
PYTHON3 ?= python3
ARGS    ?=
# make test's parallel workers (pytest-xdist): the cluster tests mostly wait on Kubernetes,
# so four share two cores well, even beside a CPU hog (BENCHMARKS.md, "make test").
TEST_WORKERS ?= 4
TOOLCHAIN_ARGS ?=

.PHONY: venv toolchain node-deps browser demo test lint format bench clean sim-up sim-down

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Builds etcd, the Kubernetes control plane, kubectl, kwok and helm from the Go module proxy
# into ~/.cache/gpuconform (once; later runs reuse it in seconds), the real nodes' kubelet,
# kube-proxy, containerd, runc, CNI plugins and NVIDIA container toolkit
# (gpuconform/sim/node_toolchain.yaml), unpacks NVIDIA's real plugin binaries from
# $GPUCONFORM_THIRD_PARTY and generates the kubelet device-plugin API.
toolchain: venv node-deps
	$(PY) -m gpuconform.cli sim build $(TOOLCHAIN_ARGS)

# What the real nodes need from Debian: a C compiler and libseccomp for runc and nvidia-ctk
# (cgo), iptables for kube-proxy and the CNI bridge, busybox-static for the images' shell.
# Installed when missing, as root with apt-get; elsewhere it says what is missing.
NODE_DEBS := gcc libc6-dev libseccomp-dev iptables busybox-static
node-deps:
	@missing=$$(for p in $(NODE_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	  grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $$missing (apt-get) for the simulated cluster's real nodes"; \
	  apt-get install -y -q $$missing >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	else \
	  echo "node-deps: missing Debian packages: $$missing (install them as root)"; \
	fi

# Debian's chromium renders reports in the browser tests (tests/gpuconform_pytest/test_report_browser.py).
# Installed when missing, as root with apt-get; elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (apt-get) for the report's browser tests"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	else \
	  echo "browser: chromium missing and not installable here (needs root and apt-get);" \
	    "the report's browser tests will skip"; \
	fi

demo: toolchain
	$(PYTEST) --cluster=sim $(ARGS); rc=$$?; \
	  echo "HTML report: $$(readlink -f reports/latest)/report.html"; exit $$rc

test: toolchain browser
	@# Three workers' clusters (kubelets, containerds, plugins) outgrow the default 128 inotify
	@# instances: the plugin then fails "couldn't initialize inotify: too many open files" (kind's
	@# known issue, kind.sigs.k8s.io/docs/user/known-issues). Raised as root, where it is lower.
	@if [ "$$(id -u)" = 0 ] && [ "$$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ]; then \
	  echo "raising fs.inotify.max_user_instances to 1024 for the parallel cluster tests"; \
	  echo 1024 > /proc/sys/fs/inotify/max_user_instances || echo "could not raise it: run with TEST_WORKERS=0 (one process) if plugins fail with too many open files"; fi
	$(PYTEST) tests -p no:randomly -n $(TEST_WORKERS) --dist loadscope $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: toolchain
	$(PY) bench/run.py $(ARGS)

sim-up: toolchain
	$(VENV)/bin/gpuconform sim up
sim-down: venv
	$(VENV)/bin/gpuconform sim down

clean:
	rm -rf reports .pytest_cache
