"""NVIDIA's DRA driver for GPUs (v25.12.0) on real nodes: its published chart, unchanged, from
the simulated cluster's chart repository; its kubelet plugin, from the image built like the
other node images, registers with the real kubelet and publishes one ResourceSlice pool per
GPU node; a pod with a ResourceClaimTemplate is allocated one GPU by the real scheduler and
sees exactly that GPU. Only the GPUs are simulated (mock NVML, device nodes without a driver).

Over 400 lines: the checks share one module-scoped install of the driver (helm install, then
its kubelet plugins Ready on every GPU node); split, each module would install and await it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from gpuconform import dra
from gpuconform.dra_checks import gather, readiness_findings
from gpuconform.dra_workload import (
    LIST_DEVICES,
    UNSATISFIABLE,
    allocated_devices,
    pod_claims,
    unschedulable_reason,
    with_bystander,
)
from gpuconform.sim.realnode.driver_root import CONFIG_IN_ROOT, ROOT_IN_NODE_DIR
from gpuconform.smi_query import parse_query_report
from gpuconform.wait import WaitTimeout, wait_for
from tests.fixtures.real_cluster import wait_no_device_plugin_gpus
from tests.fixtures.suite_run import outcome, real_chart, run_suite, shipped_profiles
from tests.smi_format import assert_real_layout

NAMESPACE = "default"
DRA_NAMESPACE = "nvidia-dra"
CHART_VERSION = "25.12.0"
IMAGE = "nvcr.io/nvidia/k8s-dra-driver-gpu:v25.12.0"
CUDA_IMAGE = "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04"
GPU_NODES = ["real-gpu-0", "real-strict-0"]
SIM_VALUES = Path(dra.__file__).with_name("sim") / "values" / "dra-driver.yaml"
GPU_LINE = re.compile(r"^GPU \d+: (.+?) \(UUID: (GPU-[0-9a-f-]+)\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def custom(real_cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(
        config.new_client_from_config(str(real_cluster.paths.kubeconfig))
    )


@pytest.fixture(scope="module")
def resource(real_cluster) -> client.ResourceV1Api:
    return client.ResourceV1Api(config.new_client_from_config(str(real_cluster.paths.kubeconfig)))


@pytest.fixture(scope="module")
def dra_driver(real_cluster, helm, real_core):
    """The published chart, installed from the sim's chart repository with only values."""
    repo = real_cluster.chart_repo()
    assert repo, "the simulated cluster serves no chart repository"
    # A device plugin another module installed must be gone first: readiness fails a node
    # where both it and DRA advertise GPUs.
    wait_no_device_plugin_gpus(real_core, GPU_NODES)
    sets = [a for s in dra.settings()["chart"]["set"] for a in ("--set", s)]
    helm(
        "install", "nvdra", dra.settings()["chart"]["name"], "--repo", repo,
        "--version", CHART_VERSION, "-n", DRA_NAMESPACE, "--create-namespace",
        *sets, "--set", "nvidiaDriverRoot=/run/nvidia/driver", "-f", str(SIM_VALUES),
    )  # fmt: skip
    _wait_plugins_ready(real_core)
    yield dra.settings()["kubelet_plugin_daemonset"]
    helm("uninstall", "nvdra", "-n", DRA_NAMESPACE, "--wait")


def _wait_plugins_ready(real_core) -> None:
    """Until the kubelet plugin is Ready on every GPU node (a test may have restarted one)."""

    def plugins_ready(pods: dict) -> tuple[bool, str]:
        ready = {
            p.spec.node_name
            for p in pods.values()
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        }
        return ready >= set(GPU_NODES), f"ready on {sorted(ready)}"

    wait_for(
        real_core.list_namespaced_pod,
        plugins_ready,
        what="the DRA kubelet plugin to be ready on every GPU node",
        timeout_s=90,
        namespace=DRA_NAMESPACE,
    )


def _node_gpus(real_cluster, node: str) -> list[dict]:
    """The node's GPUs as its driver root's mock NVML config describes them."""
    path = real_cluster.paths.state_dir / "nodes" / node / ROOT_IN_NODE_DIR / CONFIG_IN_ROOT
    return yaml.safe_load(path.read_text())["devices"]


def test_the_chart_runs_its_kubelet_plugin_from_the_image_on_every_gpu_node(
    dra_driver, real_cluster
):
    apps = client.AppsV1Api(config.new_client_from_config(str(real_cluster.paths.kubeconfig)))
    ds = apps.read_namespaced_daemon_set(dra_driver, DRA_NAMESPACE)
    containers = {c.name: c.image for c in ds.spec.template.spec.containers}
    assert containers == {"gpus": IMAGE}  # ComputeDomains off: the GPU plugin only
    assert ds.spec.template.spec.init_containers[0].image == IMAGE
    assert ds.status.number_ready == len(GPU_NODES)


@pytest.mark.usefixtures("dra_driver")
def test_one_resourceslice_pool_per_gpu_node_with_the_nodes_gpus(resource, real_cluster):
    def published(slices: dict) -> tuple[bool, str]:
        found = dra.pools(dra.as_dicts(resource, slices.values()))
        return set(found) >= set(GPU_NODES), f"pools {sorted(found)}"

    wait_for(
        resource.list_resource_slice,
        published,
        what="ResourceSlices for every GPU node",
        timeout_s=60,
    )
    pools = dra.pools(dra.list_slices(resource))
    assert sorted(pools) == GPU_NODES
    for node in GPU_NODES:
        pool = pools[node]
        assert pool.slices == 1
        gpus = _node_gpus(real_cluster, node)
        assert sorted(d["uuid"] for d in pool.devices.values()) == sorted(g["uuid"] for g in gpus)
        for device in pool.devices.values():
            assert device["productName"] == "NVIDIA H200"
            # Published as a semantic version: 580.159.04 -> 580.159.4.
            assert device["driverVersion"] == "580.159.4"
            assert dra.same_version(device["driverVersion"], "580.159.04")


@pytest.mark.usefixtures("dra_driver")
def test_a_claim_pod_sees_exactly_its_allocated_gpu_and_the_claim_goes_with_it(
    real_core, resource, custom
):
    node, name = "real-gpu-0", "dra-one-gpu"
    resource.create_namespaced_resource_claim_template(NAMESPACE, dra.claim_template("one-gpu"))
    pod = dra.claim_pod(name, CUDA_IMAGE, ["sleep", "300"], ["one-gpu"], node)
    # What the pod's GPU container sees, listed before it starts (the claim is held by both).
    script = "nvidia-smi -L; ls /dev | grep nvidia; echo ENV=$NVIDIA_VISIBLE_DEVICES"
    real_core.create_namespaced_pod(NAMESPACE, dra.with_listing(pod, ["sh", "-c", script]))

    def running(pods: dict) -> tuple[bool, str]:
        found = pods.get(f"{NAMESPACE}/{name}")
        phase = found.status.phase if found else "absent"
        return phase in {"Running", "Succeeded", "Failed"}, phase

    wait_for(
        real_core.list_namespaced_pod, running, what="the claim pod to run",
        timeout_s=60, namespace=NAMESPACE,
    )  # fmt: skip
    log = real_core.read_namespaced_pod_log(name, NAMESPACE, container="list")
    status = real_core.read_namespaced_pod(name, NAMESPACE).status
    assert status.phase == "Running", f"{log}\n{status.container_statuses}"
    claims = dra.list_claims(custom, NAMESPACE)
    mine = [c for c in claims if c["metadata"]["name"].startswith(f"{name}-")]
    assert len(mine) == 1, [c["metadata"]["name"] for c in claims]
    claim = mine[0]["status"]
    assert [r["name"] for r in claim["reservedFor"]] == [name]
    results = claim["allocation"]["devices"]["results"]
    assert [(r["driver"], r["pool"]) for r in results] == [("gpu.nvidia.com", node)]
    allocated = dra.pools(dra.list_slices(resource))[node].devices[results[0]["device"]]
    # Exactly one GPU, and it is the one the scheduler allocated.
    assert GPU_LINE.findall(log) == [("NVIDIA H200", allocated["uuid"])], log
    assert len(re.findall(r"^nvidia\d+$", log, re.MULTILINE)) == 1, log
    assert "ENV=void" in log  # the driver's CDI spec; the image's "all" never reaches the runtime
    _delete(real_core, name)

    dra.wait_claims_gone(custom, NAMESPACE, f"{name}-", timeout_s=60)


def _delete(real_core, name: str) -> None:
    """Delete gracefully and wait until the pod is gone: a force-deleted pod's claim goes at
    once, while the kubelet has not yet unprepared its devices, and the DRA driver then refuses
    them to the next claim ("requested device gpu-0 is already allocated to different claim")."""
    real_core.delete_namespaced_pod(name, NAMESPACE)

    def gone(pods: dict) -> tuple[bool, str]:
        return f"{NAMESPACE}/{name}" not in pods, "still there"

    wait_for(
        real_core.list_namespaced_pod, gone, what=f"pod {name} to be deleted",
        timeout_s=60, namespace=NAMESPACE,
    )  # fmt: skip


def _wait_phase(real_core, name: str, phases: set[str]) -> None:
    def reached(pods: dict) -> tuple[bool, str]:
        found = pods.get(f"{NAMESPACE}/{name}")
        phase = found.status.phase if found else "absent"
        return phase in phases, phase

    try:
        wait_for(
            real_core.list_namespaced_pod, reached, what=f"pod {name} to reach {sorted(phases)}",
            timeout_s=60, namespace=NAMESPACE,
        )  # fmt: skip
    except WaitTimeout as err:
        involved = f"involvedObject.name={name}"
        events = real_core.list_namespaced_event(NAMESPACE, field_selector=involved)
        raise AssertionError(
            f"{err}: {[f'{e.reason}: {e.message}' for e in events.items]}"
        ) from None


@pytest.mark.usefixtures("dra_driver")
def test_two_claims_on_one_node_get_two_distinct_gpus(real_core, resource, custom):
    node, name = "real-gpu-0", "dra-two-claims"
    resource.create_namespaced_resource_claim_template(NAMESPACE, dra.claim_template("gpu-a"))
    resource.create_namespaced_resource_claim_template(NAMESPACE, dra.claim_template("gpu-b"))
    pod = dra.claim_pod(name, CUDA_IMAGE, ["sleep", "300"], ["gpu-a", "gpu-b"], node)
    real_core.create_namespaced_pod(NAMESPACE, dra.with_listing(pod, ["nvidia-smi", "-L"]))
    # Running: listed, and the claims are still allocated (they go when the pod finishes).
    _wait_phase(real_core, name, {"Running", "Succeeded", "Failed"})
    devices = allocated_devices(pod_claims(custom, NAMESPACE, name))
    log = real_core.read_namespaced_pod_log(name, NAMESPACE, container="list")
    assert len(devices) == 2 and len(set(devices)) == 2, devices
    pool = dra.pools(dra.list_slices(resource))[node]
    expected = sorted(pool.devices[device]["uuid"] for _, device in devices)
    assert sorted(uuid for _, uuid in GPU_LINE.findall(log)) == expected, log
    _delete(real_core, name)
    dra.wait_claims_gone(custom, NAMESPACE, f"{name}-", timeout_s=60)


@pytest.mark.usefixtures("dra_driver")
def test_a_claim_no_gpu_satisfies_stays_pending_with_the_schedulers_reason(real_core, resource):
    name = "dra-unsatisfiable"
    template = dra.claim_template("no-such-gpu", selector=UNSATISFIABLE)
    resource.create_namespaced_resource_claim_template(NAMESPACE, template)
    pod = dra.claim_pod(name, CUDA_IMAGE, ["true"], ["no-such-gpu"])

    real_core.create_namespaced_pod(NAMESPACE, pod)

    def refused(pods: dict) -> tuple[bool, str]:
        found = pods.get(f"{NAMESPACE}/{name}")
        reason = unschedulable_reason(found) if found else None
        return reason is not None, str(reason)

    wait_for(
        real_core.list_namespaced_pod, refused, what="the scheduler to refuse the pod",
        timeout_s=60, namespace=NAMESPACE,
    )  # fmt: skip
    found = real_core.read_namespaced_pod(name, NAMESPACE)
    assert found.status.phase == "Pending"
    reason = unschedulable_reason(found)
    assert reason.startswith("Unschedulable: ") and "cannot allocate all claims" in reason, reason
    _delete(real_core, name)


@pytest.mark.parametrize(
    ("node", "unclaimed"),
    [("real-gpu-0", 2), ("real-strict-0", 0)],
    ids=["toolkit-default-leaks-to-a-pod-without-a-claim", "strict-runtime-gives-none"],
)
@pytest.mark.usefixtures("dra_driver")
def test_only_the_container_that_claims_a_gpu_sees_one(
    real_core, resource, custom, node, unclaimed
):
    """A container that references the claim sees exactly its GPU. A second container of that
    pod, and a pod without a claim, get none from DRA (CDI devices are per container), but
    every GPU through their image's NVIDIA_VISIBLE_DEVICES=all unless the runtime refuses the
    variable from unprivileged containers, as the strict node's does."""
    holder, plain = f"holder-{node}", f"no-claim-{node}"
    resource.create_namespaced_resource_claim_template(NAMESPACE, dra.claim_template(holder))
    script = ["sh", "-c", LIST_DEVICES]
    pod = with_bystander(dra.claim_pod(holder, CUDA_IMAGE, script, [holder], node), script)
    real_core.create_namespaced_pod(NAMESPACE, pod)
    no_claim = dra.claim_pod(plain, CUDA_IMAGE, script, [], node)
    del no_claim["spec"]["resourceClaims"]
    no_claim["spec"]["containers"][0]["resources"] = {}
    real_core.create_namespaced_pod(NAMESPACE, no_claim)
    for name in (holder, plain):
        _wait_phase(real_core, name, {"Succeeded", "Failed"})
    seen = {
        f"{name}/{container}": real_core.read_namespaced_pod_log(
            name, NAMESPACE, container=container
        ).split()
        for name, container in ((holder, "workload"), (holder, "bystander"), (plain, "workload"))
    }
    for name in (holder, plain):
        _delete(real_core, name)
    assert len(seen[f"{holder}/workload"]) == 1, seen
    # The bystander is unclaimed too: on the default node its image's variable reaches it.
    assert len(seen[f"{holder}/bystander"]) == unclaimed, seen
    assert len(seen[f"{plain}/workload"]) == unclaimed, seen


def _nvidia_smi_q(real_cluster, node: str) -> str:
    """``nvidia-smi -q`` on the node: the driver root's own, on its own library and device
    nodes."""
    root = real_cluster.paths.state_dir / "nodes" / node / ROOT_IN_NODE_DIR
    return subprocess.run(
        [str(root / "usr/bin/nvidia-smi"), "-q"],
        env={"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": str(root / "usr/lib64")},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_nvidia_smi_q_reports_the_nodes_nvml_in_the_real_layout(real_cluster):
    """The driver root's SIMULATED nvidia-smi answers -q from the node's mock NVML (not from
    gpuconform's config): each GPU's name, UUID and minor number as NVML has them, laid out as
    a real H200's nvidia-smi -q."""
    for node in GPU_NODES:
        text = _nvidia_smi_q(real_cluster, node)
        assert assert_real_layout(text) >= 2 * 15, text
        report = parse_query_report(text)
        config = yaml.safe_load(
            (
                real_cluster.paths.state_dir / "nodes" / node / ROOT_IN_NODE_DIR / CONFIG_IN_ROOT
            ).read_text()
        )
        assert report.driver_version == config["system"]["driver_version"] == "580.159.04"
        assert report.cuda_version == config["system"]["cuda_version"]
        assert [(g.uuid, g.minor) for g in report.gpus] == [
            (d["uuid"], d["minor_number"]) for d in config["devices"]
        ], text
        assert {g.name for g in report.gpus} == {"NVIDIA H200"}


@pytest.mark.usefixtures("dra_driver")
def test_dra_readiness_holds_on_every_gpu_node(real_core, resource, custom, real_cluster):
    smi = {node: parse_query_report(_nvidia_smi_q(real_cluster, node)).rows() for node in GPU_NODES}
    assert all(len(gpus) == 2 for gpus in smi.values()), smi
    state = gather(real_core, resource, custom, DRA_NAMESPACE)
    assert readiness_findings(state, dict.fromkeys(GPU_NODES, 2), smi) == []


@pytest.mark.usefixtures("dra_driver")
def test_a_node_with_a_broken_driver_root_is_named(real_core, resource, custom, real_cluster):
    """The DRA plugin restarts on a node whose driver root lost nvidia-smi: the chart's init
    container never passes its driver check, and readiness names that node."""
    node = "real-strict-0"
    smi = real_cluster.paths.state_dir / "nodes" / node / ROOT_IN_NODE_DIR / "usr/bin/nvidia-smi"
    hidden = smi.with_name("nvidia-smi.hidden")
    smi.rename(hidden)
    try:
        selector = f"spec.nodeName={node}"
        for pod in real_core.list_namespaced_pod(DRA_NAMESPACE, field_selector=selector).items:
            name = pod.metadata.name
            real_core.delete_namespaced_pod(name, DRA_NAMESPACE, grace_period_seconds=0)

        def init_stuck(pods: dict) -> tuple[bool, str]:
            states = [
                s.state
                for p in pods.values()
                if p.metadata.deletion_timestamp is None
                for s in p.status.init_container_statuses or []
            ]
            return any(s.running for s in states), f"{len(pods)} pods: {states}"

        wait_for(
            real_core.list_namespaced_pod, init_stuck,
            what=f"a new DRA plugin pod on {node} to run its init container",
            timeout_s=60, namespace=DRA_NAMESPACE, field_selector=selector,
        )  # fmt: skip
        state = gather(real_core, resource, custom, DRA_NAMESPACE)
        findings = readiness_findings(state, dict.fromkeys(GPU_NODES, 2), {})
        named = [f for f in findings if f.node == node]
        assert [f.node for f in findings] == [node] * len(findings), findings
        assert "no Ready DRA kubelet plugin (init container init-container still running" in str(
            named[0]
        )
    finally:
        hidden.rename(smi)


def test_auto_on_a_cluster_with_the_device_class_takes_the_dra_path(
    dra_driver, real_core, real_cluster, tmp_path
):
    """`allocation: auto` on a cluster where NVIDIA's DRA driver is already installed (here by
    this module, with DeviceClass gpu.nvidia.com): the suite, in existing mode, takes the DRA
    path, says so, and validates the driver there, its readiness comparing each device's
    uuid, productName and driverVersion with nvidia-smi -q in a GPU container on the node."""
    node = "real-strict-0"  # the runtime that refuses NVIDIA_VISIBLE_DEVICES: conformant
    _wait_plugins_ready(real_core)
    base = shipped_profiles()["sim"]
    profile = {k: v for k, v in base.items() if k != "simulated"}
    profile |= {
        "kubeconfig": str(real_cluster.paths.kubeconfig),
        # The `sim` chart repository belongs to suite-owned clusters; not installed here.
        "chart": {"path": str(real_chart())},
        "mode": "existing",
        "allocation": "auto",
        "gpu_nodes": {"selector": f"kubernetes.io/hostname={node}", "count": 1, "gpus_per_node": 2},
    }
    profiles = tmp_path / "clusters.yaml"
    profiles.write_text(yaml.safe_dump({"profiles": {"ext": profile}}))
    run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}")
    cases = run.junit()
    facts = json.loads((run.report_dir / "summary.json").read_text())["facts"]
    assert facts["GPU allocation"] == (
        "dra (allocation auto, and DeviceClass gpu.nvidia.com exists)"
    ), run.output[-3000:]
    assert outcome(cases["test_dra_is_ready_on_every_gpu_node"]) == "passed", run.output[-3000:]
    skipped = cases["test_gpu_pod_runs_and_sees_exactly_its_gpu"].find("skipped")
    assert "GPUs are handed out by the DRA driver" in skipped.get("message", "")
    assert run.returncode == 0 and "CONFORMANT - profile ext" in run.output, run.output[-3000:]
    # Not the suite's to remove in existing mode: the driver is still there.
    apps = client.AppsV1Api(config.new_client_from_config(str(real_cluster.paths.kubeconfig)))
    assert apps.read_namespaced_daemon_set(dra_driver, DRA_NAMESPACE).status.number_ready == 2
