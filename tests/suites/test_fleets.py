"""Mixed GPU fleets end to end: one run over several node pools, each with its expectations.

The `sim-mixed` profile against its own simulated cluster (2 H100x8 training nodes, 1 L40Sx4
inference node, 1 L40Sx4 node time-sliced 4 ways through the real chart's named configs), as
shipped; then the same fleet with one pool broken.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from gpuconform.fleet import COUNT_LABEL
from gpuconform.sim.nodes import PROFILES_DIR
from tests.fixtures.suite_run import (
    labelled_leftovers,
    outcome,
    run_suite,
    shipped_profiles,
    write_profiles,
)

pytestmark = pytest.mark.suite_run

POOLS = ("training", "inference", "shared")
PER_POOL = (
    "test_gpu_nodes_are_found_and_ready",
    "test_daemonset_is_ready_on_every_gpu_node",
    "test_every_gpu_node_advertises_its_gpus",
    "test_gpu_pod_runs_and_sees_exactly_its_gpu",
    "test_advertised_driver_and_cuda_versions_match_nvidia_smi",
)


def test_a_mixed_fleet_passes_with_exact_per_node_counts_in_one_run(tmp_path):
    run = run_suite(tmp_path, "--cluster=sim-mixed")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    for check in PER_POOL:
        for pool in POOLS:
            assert outcome(cases[f"{check}[{pool}]"]) == "passed", (check, pool)
    # Time-slicing is proven where the pool configures it, and only there.
    assert outcome(cases["test_a_shared_gpu_runs_two_pods_at_once[shared]"]) == "passed"
    skipped = cases["test_a_shared_gpu_runs_two_pods_at_once[training]"].find("skipped")
    assert "no GPU sharing in pool 'training'" in skipped.get("message")
    summary = json.loads((run.report_dir / "summary.json").read_text())
    nodes = {n["name"]: n for n in summary["nodes"] if n["expected"]}
    # Exact counts per node: 8 H100s, 4 L40S (from the node's own label), 4 L40S x 4 slices.
    assert {
        name: (n["pool"], n["gpus_advertised"], n["gpus_expected"]) for name, n in nodes.items()
    } == {
        "gpu-h100-0": ("training", 8, 8),
        "gpu-h100-1": ("training", 8, 8),
        "gpu-l40s-0": ("inference", 4, 4),
        "gpu-l40s-shared-0": ("shared", 16, 16),
    }
    assert nodes["gpu-l40s-0"]["expected_from"] == "label nvidia.com/gpu.count"
    assert nodes["gpu-h100-0"]["expected_from"] == "profile"
    assert all(n["healthy"] for n in nodes.values())
    # A GPU pod ran in every pool, on that pool's nodes, beside the pod that read nvidia-smi
    # for the advertised-versions check (one per distinct label set).
    assert nodes["gpu-l40s-0"]["workload"] == [
        "gpu-versions-gpu-l40s-0-inference: Succeeded",
        "gpu-workload-inference: Succeeded",
    ]
    assert summary["facts"]["GPU pools"] == "training: 2 nodes, inference: 1 node, shared: 1 node"
    verdict = summary["verdict"]
    assert verdict["verdict"] == "CONFORMANT"
    assert verdict["reason"].endswith("Pools: training, inference, shared passed.")
    assert "GPU nodes in pool inference: 1 OK" in run.output
    assert "data-node='gpu-l40s-shared-0' data-pool='shared'" in run.html()


def broken_pool_profiles(tmp_path: Path) -> str:
    """`sim-mixed` whose inference nodes carry a taint the chart's plugin pods do not
    tolerate (a provider's `sku=gpu:NoSchedule`): the DaemonSet places no pod there."""
    nodes = yaml.safe_load((PROFILES_DIR / "mixed-fleet.yaml").read_text())
    inference = next(g for g in nodes["node_groups"] if g["labels"].get("pool") == "inference")
    inference["taints"].append({"key": "sku", "value": "gpu", "effect": "NoSchedule"})
    node_profile = tmp_path / "mixed-fleet-tainted.yaml"
    node_profile.write_text(yaml.safe_dump(nodes))
    shipped = shipped_profiles()
    mixed = shipped["sim-mixed"]
    broken = {"extends": "sim-mixed", "simulated": {"nodes": str(node_profile)}}
    path = tmp_path / "clusters.yaml"
    profiles = {"sim": shipped["sim"], "sim-mixed": mixed, "broken": broken}
    path.write_text(yaml.safe_dump({"profiles": profiles}))
    return str(path)


def test_one_broken_pool_is_named_while_the_other_pools_pass(tmp_path):
    run = run_suite(tmp_path, "--cluster=broken", f"--profiles={broken_pool_profiles(tmp_path)}")
    assert run.returncode == 1, run.output[-3000:]
    cases = run.junit()
    failure = cases["test_daemonset_is_ready_on_every_gpu_node[inference]"].find("failure")
    assert failure is not None
    assert "places no pod on gpu-l40s-0: its pods do not tolerate sku=gpu:NoSchedule" in (
        failure.get("message")
    )
    # The other pools pass every check of theirs, in the same run.
    for check in PER_POOL:
        for pool in ("training", "shared"):
            assert outcome(cases[f"{check}[{pool}]"]) == "passed", (check, pool)
    for later in (
        "test_every_gpu_node_advertises_its_gpus",
        "test_gpu_pod_runs_and_sees_exactly_its_gpu",
    ):
        skipped = cases[f"{later}[inference]"].find("skipped")
        assert "needs step 'readiness[inference]', which failed" in skipped.get("message")
    summary = json.loads((run.report_dir / "summary.json").read_text())
    verdict = summary["verdict"]
    assert verdict["verdict"] == "NOT CONFORMANT"
    # The diagnosis names the layer, the pool and the cause (signature plugin-taint-not-tolerated).
    assert verdict["reason"].startswith(
        "first broken layer: device-plugin in pool inference (step readiness"
    )
    assert "do not tolerate the node's taint" in verdict["reason"]
    assert "toleration" in verdict["fix"]
    assert verdict["reason"].endswith("Pools: inference failed; training, shared passed.")
    rows = {n["name"]: n for n in summary["nodes"] if n["expected"]}
    assert not rows["gpu-l40s-0"]["healthy"] and rows["gpu-l40s-0"]["pool"] == "inference"
    assert all(rows[n]["healthy"] for n in ("gpu-h100-0", "gpu-h100-1", "gpu-l40s-shared-0"))
    assert "GPU nodes in pool inference: 0 OK, 1 broken (gpu-l40s-0)" in run.output
    assert "GPU nodes in pool training: 2 OK" in run.output


def test_without_a_count_label_the_node_probe_says_how_many_gpus_to_expect(
    tmp_path, shared_cluster, shared_api
):
    """A pool that states no GPUs per node, on nodes without NFD/GFD's count label: the
    expectation comes from each node's probe (nvidia-smi -L), and the report says so."""
    core = client.CoreV1Api(shared_api)
    nodes = [f"gpu-node-{i}" for i in range(3)]
    for name in nodes:
        core.patch_node(name, {"metadata": {"labels": {COUNT_LABEL: None}}})
    try:
        kubeconfig = str(shared_cluster.paths.kubeconfig)
        profile = {
            "extends": "base",
            "kubeconfig": kubeconfig,
            "gpu_nodes": {"gpus_per_node": None},
        }
        profiles = write_profiles(tmp_path, {"unlabelled": profile})
        run = run_suite(tmp_path, "--cluster=unlabelled", f"--profiles={profiles}")
    finally:
        for name in nodes:
            core.patch_node(name, {"metadata": {"labels": {COUNT_LABEL: "8"}}})
    assert run.returncode == 0, run.output[-3000:]
    assert "expected GPUs: probing node gpu-node-0 (no nvidia.com/gpu.count)" in run.output
    summary = json.loads((run.report_dir / "summary.json").read_text())
    rows = {n["name"]: n for n in summary["nodes"] if n["expected"]}
    assert {n: (r["gpus_expected"], r["expected_from"]) for n, r in rows.items()} == {
        name: (8, "node probe (nvidia-smi -L)") for name in nodes
    }
    # The matrix shows what each probe found, and why probes ran on a passing run.
    assert rows["gpu-node-0"]["probe"]["gpus"] == 8
    assert "node probes ran to count GPUs where nothing else said how many" in run.html()
    assert labelled_leftovers(shared_api) == []  # the probes' pods went with the run
