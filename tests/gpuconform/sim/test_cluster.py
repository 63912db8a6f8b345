"""The simulated GPU cluster behaves like a real one where the suite can tell.

Real here: etcd, kube-apiserver, kube-controller-manager (DaemonSet controller, garbage
collector), kube-scheduler, kubectl. Simulated: kubelet, container runtime and GPUs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpuconform.wait import wait_for
from tests.data.plugin import plugin_daemonset

DATA = Path(__file__).resolve().parents[2] / "data"
PLUGIN_DS = plugin_daemonset()
HEALTHY = ["gpu-ok-0", "gpu-ok-1"]


def gpus(node) -> int | None:
    value = (node.status.allocatable or {}).get("nvidia.com/gpu")
    return None if value is None else int(value)


def plugin_pods_by_node(core) -> dict[str, object]:
    pods = core.list_namespaced_pod(
        "kube-system", label_selector="app.kubernetes.io/name=nvidia-device-plugin"
    ).items
    return {p.spec.node_name: p for p in pods}


def ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


@pytest.fixture(scope="module")
def plugin(core, apps):
    """Before: no GPUs advertised. Creates the plugin DaemonSet and waits for it to settle."""
    before = {n.metadata.name: gpus(n) for n in core.list_node().items}
    apps.create_namespaced_daemon_set("kube-system", PLUGIN_DS)

    def settled(pods: dict) -> tuple[bool, str]:
        by_node = {p.spec.node_name: p for p in pods.values()}
        healthy_ready = all(n in by_node and ready(by_node[n]) for n in HEALTHY)
        crashing = by_node.get("gpu-broken-0")
        restarts = (
            crashing.status.container_statuses[0].restart_count
            if (crashing and crashing.status.container_statuses)
            else 0
        )
        nodev = by_node.get("gpu-nodev-0")
        done = healthy_ready and restarts >= 2 and nodev is not None and ready(nodev)
        return done, f"{len(by_node)} plugin pods, broken restarts={restarts}"

    wait_for(
        core.list_namespaced_pod,
        settled,
        what="plugin pods to settle",
        timeout_s=90,
        namespace="kube-system",
        label_selector="app.kubernetes.io/name=nvidia-device-plugin",
    )
    return before


def test_nodes_are_ready_with_gpu_labels(core):
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert sorted(nodes) == sorted(
        ["gpu-ok-0", "gpu-ok-1", "gpu-broken-0", "gpu-nodev-0", "gpu-unlabeled-0", "cpu-0"]
    )
    for node in nodes.values():
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    assert nodes["gpu-ok-0"].metadata.labels["nvidia.com/gpu.present"] == "true"
    assert "nvidia.com/gpu.present" not in nodes["gpu-unlabeled-0"].metadata.labels
    assert "nvidia.com/gpu.present" not in nodes["cpu-0"].metadata.labels
    assert nodes["cpu-0"].status.node_info.kubelet_version == "v1.34.4"


def test_daemonset_gets_one_pod_per_labelled_gpu_node(plugin, core, apps):
    by_node = plugin_pods_by_node(core)
    assert sorted(by_node) == ["gpu-broken-0", "gpu-nodev-0", "gpu-ok-0", "gpu-ok-1"]
    ds = apps.read_namespaced_daemon_set(PLUGIN_DS["metadata"]["name"], "kube-system")
    assert ds.status.desired_number_scheduled == 4
    assert ds.status.number_ready == 3  # the broken node's pod crash-loops


def test_gpus_advertised_only_once_the_plugin_is_ready(plugin, core):
    assert all(v is None for v in plugin.values()), f"GPUs advertised before the plugin: {plugin}"
    nodes = wait_for(
        core.list_node,
        lambda ns: (all(gpus(ns[n]) == 8 for n in HEALTHY), "waiting for allocatable"),
        what="healthy nodes to advertise 8 GPUs",
        timeout_s=30,
    )
    assert gpus(nodes["gpu-broken-0"]) is None
    assert gpus(nodes["gpu-nodev-0"]) is None
    assert gpus(nodes["cpu-0"]) is None


def test_broken_driver_plugin_crash_loops_with_nvml_error(plugin, core, kubectl):
    """The REAL plugin on a node without NVML: its own error, exit 1, kubelet's back-off."""
    name = plugin_pods_by_node(core)["gpu-broken-0"].metadata.name

    def backing_off(pods: dict) -> tuple[bool, str]:
        statuses = pods[f"kube-system/{name}"].status.container_statuses or []
        state = statuses[0].state if statuses else None
        waiting = state.waiting.reason if state and state.waiting else None
        return waiting == "CrashLoopBackOff", f"state {state}"

    pod = wait_for(
        core.list_namespaced_pod,
        backing_off,
        what="the broken node's plugin to be in CrashLoopBackOff",
        timeout_s=60,
        namespace="kube-system",
        field_selector=f"metadata.name={name}",
    )[f"kube-system/{name}"]
    status = pod.status.container_statuses[0]
    assert status.restart_count >= 2
    assert status.last_state.terminated.exit_code == 1
    previous = kubectl("logs", "-n", "kube-system", name, "--previous").stdout
    assert "Starting NVIDIA Device Plugin" in previous  # the real binary's own log
    assert "nvml init failed: ERROR_LIBRARY_NOT_FOUND" in previous
    events = core.list_namespaced_event(
        "kube-system", field_selector=f"involvedObject.name={name},reason=BackOff"
    ).items
    assert events and events[0].type == "Warning" and events[0].count >= 1


def test_no_devices_plugin_runs_but_advertises_nothing(plugin, core, kubectl):
    pod = plugin_pods_by_node(core)["gpu-nodev-0"]
    assert ready(pod)
    logs = kubectl("logs", "-n", "kube-system", pod.metadata.name).stdout
    assert "No devices found. Waiting indefinitely." in logs
    assert gpus(core.read_node("gpu-nodev-0")) is None


def test_exec_runs_simulated_gpu_tools_consistent_with_the_node(plugin, core, kubectl):
    name = plugin_pods_by_node(core)["gpu-ok-0"].metadata.name
    listing = kubectl("exec", "-n", "kube-system", name, "--", "nvidia-smi", "-L").stdout
    assert listing.count("GPU ") == 8 and "NVIDIA H200" in listing
    info = kubectl(
        "exec",
        "-n",
        "kube-system",
        name,
        "--",
        "nvidia-container-cli",
        "-k",
        "-d",
        "/dev/tty",
        "info",
    ).stdout
    assert "NVRM version:   580.159.04" in info and info.count("Model:          NVIDIA H200") == 8
    table = kubectl("exec", "-n", "kube-system", name, "--", "nvidia-smi").stdout
    assert "Driver Version: 580.159.04" in table


def run_pod(
    core,
    name: str,
    gpus_wanted: int,
    command: list[str],
    node: str | None = None,
    labels: dict[str, str] | None = None,
    image: str = "cuda",
):
    container: dict = {"name": "main", "image": image}
    if command:
        container["command"] = command
    if gpus_wanted:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus_wanted)}}
    spec = {
        "restartPolicy": "Never",
        "containers": [container],
        "tolerations": [{"operator": "Exists"}],
    }
    if node:
        spec["nodeName"] = node
    core.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec,
        },
    )


def wait_finished(core, name: str):
    pods = wait_for(
        core.list_namespaced_pod,
        lambda ps: (
            any(p.status.phase in ("Succeeded", "Failed") for p in ps.values()),
            "running",
        ),
        what=f"pod {name} to finish",
        timeout_s=60,
        namespace="default",
        field_selector=f"metadata.name={name}",
    )
    return pods[f"default/{name}"]


def container_env(custom, name: str) -> dict[str, str]:
    """The env the simulated runtime gave a pod's container (its KWOK Exec object)."""
    body = custom.get_namespaced_custom_object(
        "kwok.x-k8s.io", "v1alpha1", "default", "execs", name
    )
    return {e["name"]: e["value"] for e in body["spec"]["execs"][0]["local"]["envs"]}


def test_gpu_pod_sees_exactly_the_gpus_the_real_plugin_allocated(plugin, core, custom, kubectl):
    run_pod(core, "two-gpus", 2, ["nvidia-smi", "-L"])
    pod = wait_finished(core, "two-gpus")
    assert pod.status.phase == "Succeeded"
    assert pod.spec.node_name in HEALTHY
    logs = core.read_namespaced_pod_log("two-gpus", "default")
    seen = re.findall(r"^GPU \d+: NVIDIA H200 \(UUID: (GPU-[0-9a-f-]+)\)$", logs, re.M)
    # What the real plugin's Allocate answered, which the runtime put in the container's env.
    allocated = container_env(custom, "two-gpus")["NVIDIA_VISIBLE_DEVICES"].split(",")
    assert len(set(seen)) == 2 and sorted(seen) == sorted(allocated), (logs, allocated)
    plugin_pod = plugin_pods_by_node(core)[pod.spec.node_name].metadata.name
    node_gpus = kubectl("exec", "-n", "kube-system", plugin_pod, "--", "nvidia-smi", "-L").stdout
    assert all(uuid in node_gpus for uuid in seen)


def test_vector_add_passes_only_with_a_gpu(plugin, core):
    run_pod(core, "vadd-gpu", 1, [], image="nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0")
    run_pod(core, "vadd-none", 0, [], image="nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0")
    assert wait_finished(core, "vadd-gpu").status.phase == "Succeeded"
    assert "Test PASSED" in core.read_namespaced_pod_log("vadd-gpu", "default")
    assert wait_finished(core, "vadd-none").status.phase == "Failed"
    assert "Test PASSED" not in core.read_namespaced_pod_log("vadd-none", "default")


def test_init_container_lists_the_gpu_the_workload_then_uses(plugin, core):
    """kubelet's device reuse, end to end: the init container's GPU is the container's."""
    init = {
        "name": "gpu-list",
        "image": "cuda",
        "command": ["nvidia-smi", "-L"],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    main = dict(init, name="main")
    spec = {
        "restartPolicy": "Never",
        "initContainers": [init],
        "containers": [main],
        "tolerations": [{"operator": "Exists"}],
        "nodeName": "gpu-ok-0",
    }
    core.create_namespaced_pod("default", {"metadata": {"name": "listed"}, "spec": spec})
    pod = wait_finished(core, "listed")
    assert pod.status.phase == "Succeeded"
    listed = core.read_namespaced_pod_log("listed", "default", container="gpu-list")
    used = core.read_namespaced_pod_log("listed", "default", container="main")
    assert listed.count("GPU ") == 1 and listed == used


def test_a_failing_init_container_fails_the_pod_before_its_containers(plugin, core):
    spec = {
        "restartPolicy": "Never",
        # No GPU requested: the runtime gives no driver, so nvidia-smi fails as it does.
        "initContainers": [{"name": "gpu-list", "image": "cuda", "command": ["nvidia-smi", "-L"]}],
        "containers": [{"name": "main", "image": "cuda", "command": ["nvidia-smi", "-L"]}],
        "tolerations": [{"operator": "Exists"}],
        "nodeName": "gpu-ok-0",
    }
    core.create_namespaced_pod("default", {"metadata": {"name": "init-fails"}, "spec": spec})
    pod = wait_finished(core, "init-fails")
    assert pod.status.phase == "Failed"
    (init,) = pod.status.init_container_statuses
    assert init.state.terminated.exit_code != 0 and init.state.terminated.reason == "Error"
    (main,) = pod.status.container_statuses
    assert main.state.waiting.reason == "PodInitializing"
    assert core.read_namespaced_pod_log("init-fails", "default", container="main") == ""


def test_gpu_pod_on_a_node_whose_plugin_never_registered_fails_admission(plugin, core):
    """Pinned past the scheduler to the broken node: kubelet has no nvidia.com/gpu to give."""
    run_pod(core, "gpu-on-broken", 1, ["nvidia-smi", "-L"], node="gpu-broken-0")
    pod = wait_finished(core, "gpu-on-broken")
    assert pod.status.phase == "Failed"
    assert pod.status.reason == "UnexpectedAdmissionError"
    assert "cannot allocate unregistered device nvidia.com/gpu" in pod.status.message


def test_a_finished_pod_always_has_its_log(plugin, core):
    """A burst of short pods: every one's log is readable the moment it reports finished.

    Regression test: KWOK serves logs from a cache that can lag behind pod status, and reading
    a finished pod's log used to fail with "no logs found for container" under load.
    """
    names = [f"burst-{i}" for i in range(12)]
    for name in names:
        run_pod(
            core,
            name,
            0,
            ["sh", "-c", f"echo marker-{name}"],
            node="cpu-0",
            labels={"burst": "true"},
        )
    wait_for(
        core.list_namespaced_pod,
        lambda ps: (
            all(p.status.phase == "Succeeded" for p in ps.values()) and len(ps) == len(names),
            f"{sum(p.status.phase == 'Succeeded' for p in ps.values())}/{len(names)} finished",
        ),
        what="the burst of pods to finish",
        timeout_s=120,
        namespace="default",
        label_selector="burst=true",
    )
    for name in names:
        assert f"marker-{name}" in core.read_namespaced_pod_log(name, "default")


def test_pod_without_gpu_request_sees_none(plugin, core):
    """No request, no NVIDIA_VISIBLE_DEVICES: the runtime injects no driver and no GPU."""
    run_pod(core, "no-gpus", 0, ["nvidia-smi", "-L"], node="gpu-ok-1")
    pod = wait_finished(core, "no-gpus")
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 12
    logs = core.read_namespaced_pod_log("no-gpus", "default")
    assert "couldn't find libnvidia-ml.so" in logs and "UUID" not in logs


def test_over_request_stays_pending_with_insufficient_gpu(plugin, core):
    run_pod(core, "too-many", 9, ["nvidia-smi", "-L"])
    events = wait_for(
        core.list_namespaced_event,
        lambda es: (bool(es), "no event yet"),
        what="FailedScheduling for too-many",
        timeout_s=30,
        namespace="default",
        field_selector="involvedObject.name=too-many,reason=FailedScheduling",
    )
    message = next(iter(events.values())).message
    assert "Insufficient nvidia.com/gpu" in message
    assert core.read_namespaced_pod("too-many", "default").status.phase == "Pending"


def test_container_cli_fails_on_the_broken_driver_node(plugin, core):
    run_pod(
        core,
        "cli-broken",
        0,
        ["nvidia-container-cli", "-k", "-d", "/dev/tty", "info"],
        node="gpu-broken-0",
    )
    pod = wait_finished(core, "cli-broken")
    assert pod.status.phase == "Failed"
    logs = core.read_namespaced_pod_log("cli-broken", "default")
    assert "load library failed: libnvidia-ml.so.1" in logs


def test_deleting_the_plugin_withdraws_the_gpus(plugin, core, apps):
    apps.delete_namespaced_daemon_set(PLUGIN_DS["metadata"]["name"], "kube-system")
    nodes = wait_for(
        core.list_node,
        lambda ns: (all(gpus(ns[n]) == 0 for n in HEALTHY), "still advertised"),
        what="GPUs to be withdrawn",
        timeout_s=60,
    )
    # Allocatable drops the moment the plugin goes; capacity only after the grace period.
    assert all(int(nodes[n].status.capacity["nvidia.com/gpu"]) == 8 for n in HEALTHY)
    wait_for(
        core.list_node,
        lambda ns: (
            all(ns[n].status.capacity.get("nvidia.com/gpu") == "0" for n in HEALTHY),
            "capacity still there",
        ),
        what="GPU capacity to go after the grace period",
        timeout_s=60,
    )
