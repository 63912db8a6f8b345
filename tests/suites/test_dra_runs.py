"""The suite on the DRA path (issue 19): `allocation: dra` on real nodes is CONFORMANT and says
so; a node whose DRA setup is broken makes the run NOT CONFORMANT and is named; `allocation:
auto` without DeviceClass gpu.nvidia.com takes the device-plugin path and says why."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.fixtures.suite_run import REPO, outcome, run_suite, shipped_profiles

pytestmark = pytest.mark.suite_run

DRA_CHECKS = (
    "test_dra_is_ready_on_every_gpu_node",
    "test_a_claim_gets_exactly_its_gpu_and_is_released",
    "test_two_claims_get_two_distinct_gpus",
    "test_an_unsatisfiable_claim_stays_pending_with_the_schedulers_reason",
    "test_only_the_container_that_claims_a_gpu_sees_one",
)


def _facts(run) -> dict:
    return json.loads((run.report_dir / "summary.json").read_text())["facts"]


def _profiles(tmp_path, **profiles) -> str:
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"profiles": shipped_profiles() | profiles}))
    return str(path)


def test_sim_dra_is_conformant_and_the_report_says_the_dra_path_ran(tmp_path):
    run = run_suite(tmp_path, "--cluster=sim-dra", "--ai-conformance")
    assert run.returncode == 0, run.output[-3000:]
    assert "CONFORMANT - profile sim-dra" in run.output
    cases = run.junit()
    for check in DRA_CHECKS:
        assert outcome(cases[check]) == "passed", check
    skipped = cases["test_gpu_pod_runs_and_sees_exactly_its_gpu"].find("skipped")
    assert skipped is not None and "GPUs are handed out by the DRA driver" in skipped.get(
        "message", ""
    )
    assert _facts(run)["GPU allocation"] == "dra (the profile says allocation: dra)"
    assert _facts(run)["DRA driver chart"] == "nvidia-dra-driver-gpu 25.12.0"
    assert "chart" not in _facts(run)  # the device plugin's chart was never installed
    # The node matrix judges DRA nodes by their ResourceSlice pool, not nvidia.com/gpu.
    assert "GPU nodes: 3 OK" in run.output, run.output[-3000:]
    nodes = json.loads((run.report_dir / "summary.json").read_text())["nodes"]
    gpu_rows = [n for n in nodes if n["expected"]]
    assert [(n["gpus_advertised"], n["healthy"]) for n in gpu_rows] == [(8, True)] * 3
    # --ai-conformance: the program's evidence beside the report, each requirement's status
    # in the verdict; the metrics requirement is not claimed (the sim names no exporter).
    assert (run.report_dir / "junit.xml").is_file()
    evidence = yaml.safe_load((run.report_dir / "ai-conformance.yaml").read_text())
    assert evidence["metadata"]["kubernetesVersion"] == "v1.34"
    status = {r["id"]: r["status"] for reqs in evidence["spec"].values() for r in reqs}
    assert status == {
        "dra_support": "Implemented",
        "accelerator_metrics": "",
        "secure_accelerator_access": "Implemented",
    }
    log = (run.report_dir / "e2e.log").read_text()
    assert "test_two_claims_get_two_distinct_gpus: passed" in log
    # The metrics step runs on the DRA path too; here it says why it has nothing to read.
    assert "test_every_gpu_has_utilisation_and_memory_metrics: skipped" in log
    assert "The profile names no accelerator metrics exporter" in log
    for line in (
        "AI Conformance dra_support (MUST): Implemented - passed: ",
        "AI Conformance accelerator_metrics (MUST): not assessed - not shown by this run",
    ):
        assert line in run.output and line in run.html(), line


def test_a_node_with_a_broken_dra_setup_is_not_conformant_and_named(tmp_path):
    nodes = str(REPO / "tests/data/node-profiles/real-dra-broken.yaml")
    profiles = _profiles(tmp_path, broken={"extends": "sim-dra", "simulated": {"nodes": nodes}})
    run = run_suite(tmp_path, "--cluster=broken", f"--profiles={profiles}")
    assert run.returncode != 0
    assert "NOT CONFORMANT" in run.output
    failure = run.junit()["test_dra_is_ready_on_every_gpu_node"].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "gpu-dra-broken-0: no Ready DRA kubelet plugin (init container" in message, message
    assert "gpu-node-0" not in message and "gpu-node-1" not in message, message
    # The diagnostics kept the init container's own log: NVIDIA's driver check, saying what it
    # did not find under the driver root (kubelet-plugin-prestart.sh).
    init_logs = list((run.report_dir / "diagnostics").glob("pod-*/init-container.log"))
    assert any("libnvidia-ml.so.1: not found" in p.read_text() for p in init_logs), init_logs
    assert "GPU nodes: 2 OK, 1 broken (gpu-dra-broken-0)" in run.output, run.output[-3000:]
    # The diagnosis reads the init container's own words (the real prestart script's check).
    diagnosis = (
        run.report_dir / "diagnostics" / "diagnosis-test_dra_is_ready_on_every_gpu_node.txt"
    ).read_text()
    assert "The DRA driver's kubelet plugin waits in its init container" in diagnosis, diagnosis
    assert "> Check failed. Has the NVIDIA GPU driver been set up?" in diagnosis, diagnosis
    assert "The node publishes no GPUs for Dynamic Resource Allocation" in diagnosis, diagnosis
    # Only the broken node fails: the others refuse NVIDIA_VISIBLE_DEVICES as sim's nodes do.
    failed = [name for name, case in run.junit().items() if outcome(case) == "failure"]
    assert failed == ["test_dra_is_ready_on_every_gpu_node"], failed


def test_a_runtime_that_leaks_gpus_to_unclaimed_containers_is_named_with_the_fix(tmp_path):
    # sim-dra on the toolkit's default runtime setting (sim-envvar-leak's nodes).
    profiles = _profiles(
        tmp_path, leaky={"extends": "sim-dra", "simulated": {"nodes": "envvar-leak"}}
    )
    run = run_suite(tmp_path, "--cluster=leaky", f"--profiles={profiles}")
    assert run.returncode != 0 and "NOT CONFORMANT" in run.output
    cases = run.junit()
    failure = cases["test_only_the_container_that_claims_a_gpu_sees_one"].find("failure")
    message = failure.get("message", "")
    assert "containers without a claim see GPUs" in message, message
    assert "accept-nvidia-visible-devices-envvar-when-unprivileged = false" in message
    assert outcome(cases["test_dra_is_ready_on_every_gpu_node"]) == "passed"


def test_auto_without_the_device_class_takes_the_device_plugin_path(tmp_path):
    # `make demo ARGS=--allocation=auto`: the option overrides the profile's allocation.
    run = run_suite(tmp_path, "--cluster=sim", "--allocation=auto")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    assert outcome(cases["test_gpu_pod_runs_and_sees_exactly_its_gpu"]) == "passed"
    assert not set(DRA_CHECKS) & set(cases)  # the dra step is left out on this path
    assert _facts(run)["GPU allocation"] == (
        "device-plugin (allocation auto, and DeviceClass gpu.nvidia.com does not exist)"
    )


def test_a_node_whose_runtime_cannot_read_the_dra_drivers_cdi_specs_is_explained(tmp_path):
    """Produced for real: containerd on gpu-dra-nocdi-0 reads CDI specs from /etc/cdi only, the
    DRA driver writes them to /var/run/cdi; the real containerd refuses the claim pod's
    container with `unresolvable CDI devices`, and the explainer names that entry."""
    nodes = str(REPO / "tests/data/node-profiles/real-dra-cdi-dirs.yaml")
    profile = {"extends": "sim-dra", "simulated": {"nodes": nodes}, "gpu_nodes": {"count": 2}}
    profiles = _profiles(tmp_path, nocdi=profile)
    run = run_suite(tmp_path, "--cluster=nocdi", f"--profiles={profiles}")
    assert run.returncode != 0 and "NOT CONFORMANT" in run.output, run.output[-3000:]
    failure = run.junit()["test_dra_is_ready_on_every_gpu_node"].find("failure")
    assert failure is not None, run.output[-3000:]
    assert "gpu-dra-nocdi-0" in failure.get("message", ""), failure.get("message")
    diagnosis = (
        run.report_dir / "diagnostics" / "diagnosis-test_dra_is_ready_on_every_gpu_node.txt"
    ).read_text()
    assert "unresolvable CDI devices k8s.gpu.nvidia.com/" in diagnosis, diagnosis
    assert "The container runtime has no CDI spec for k8s.gpu.nvidia.com/" in diagnosis, diagnosis
