"""The suite on the DRA path (issue 19): `allocation: dra` on real nodes is CONFORMANT and says
so; a node whose DRA setup is broken makes the run NOT CONFORMANT and is named; `allocation:
auto` without DeviceClass gpu.nvidia.com takes the device-plugin path and says why."""

from __future__ import annotations

import json

import yaml

from tests.suite.conftest import REPO, outcome, run_suite

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
    shipped = yaml.safe_load((REPO / "clusters.yaml").read_text())["profiles"]
    # Values files are found next to the profiles file: this one is elsewhere.
    chart = shipped["sim-dra"]["dra"]["chart"]
    chart["values"] = [str(REPO / v) for v in chart["values"]]
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"profiles": shipped | profiles}))
    return str(path)


def test_sim_dra_is_conformant_and_the_report_says_the_dra_path_ran(tmp_path):
    run = run_suite(tmp_path, "--cluster=sim-dra")
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
