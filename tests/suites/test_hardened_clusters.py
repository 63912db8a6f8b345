"""Production shapes end to end: provider taints, PodSecurity-hardened namespaces, time-slicing.

Each run is the suite against a suite-owned simulated cluster running NVIDIA's real 0.20.0
chart, plugin and config-manager; only the profile (and the chart values a platform team
would set) differ from the default `sim` run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fixtures.suite_run import REPO, run_suite, write_profiles

pytestmark = pytest.mark.suite_run

TAINTED_NODES = REPO / "tests" / "data" / "node-profiles" / "provider-taint.yaml"
SKU_TOLERATION = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
CHART_TOLERATIONS = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    SKU_TOLERATION,
]


def values_file(tmp_path: Path, values: dict) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def simulated(profile: dict, nodes: str = "healthy") -> dict:
    return {"extends": "base", "simulated": {"nodes": nodes}} | profile


def test_provider_taint_reaches_every_pod_through_the_profile(tmp_path):
    chart = {"values": [values_file(tmp_path, {"tolerations": CHART_TOLERATIONS})]}
    profile = simulated(
        {
            "chart": chart,
            "gpu_nodes": {"selector": "node.kubernetes.io/instance-type=sim.h200x8", "count": 2},
            "workload": {"tolerations": [SKU_TOLERATION]},
        },
        nodes=str(TAINTED_NODES),
    )
    profiles = write_profiles(tmp_path, {"tainted": profile})
    run = run_suite(tmp_path, "--cluster=tainted", f"--profiles={profiles}")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    for check in (
        "test_gpu_pod_runs_and_sees_exactly_its_gpu",
        "test_pod_without_gpu_request_sees_no_gpu",
        "test_over_request_stays_pending_with_insufficient_gpus",
    ):
        assert cases[check].find("failure") is None and cases[check].find("skipped") is None


def test_restricted_namespace_rejects_a_privileged_workload_in_one_line(tmp_path):
    profile = simulated({"workload": {"security_context": {"privileged": True}}})
    profiles = write_profiles(tmp_path, {"privileged": profile})
    run = run_suite(tmp_path, "--cluster=privileged", f"--profiles={profiles}", "-k", "workload")
    assert run.returncode == 1, run.output[-3000:]
    failure = run.junit()["test_gpu_pod_runs_and_sees_exactly_its_gpu"].find("failure")
    message = failure.get("message")
    assert "the API server refused test pod gpu-workload" in message
    assert 'violates PodSecurity "restricted:latest": privileged' in message
    assert "ApiException" not in message and "Traceback" not in run.output
    # The diagnosis names the policy (signature podsecurity-rejected), in the terminal too.
    assert "PodSecurity level refused a test pod" in run.output


def test_time_slicing_with_4_replicas_advertises_and_shares(tmp_path):
    config = {
        "version": "v1",
        "sharing": {
            "timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]},
        },
    }
    values = {"config": {"map": {"default": yaml.safe_dump(config)}, "default": "default"}}
    profile = simulated(
        {"chart": {"values": [values_file(tmp_path, values)]}, "sharing": {"replicas": 4}}
    )
    profiles = write_profiles(tmp_path, {"shared": profile})
    run = run_suite(tmp_path, "--cluster=shared", f"--profiles={profiles}")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    shared = cases["test_a_shared_gpu_runs_two_pods_at_once"]
    assert shared.find("failure") is None and shared.find("skipped") is None
    html = run.html()
    assert "GPUs advertised" in html and "96" in html  # 3 nodes x 8 GPUs x 4 replicas
    assert "9 pods at once on the 8 GPUs of" in html  # more pods than physical GPUs
