"""DRA readiness judged per node (gpuconform/dra_checks.py) and the profile's `allocation`."""

from __future__ import annotations

import pytest

from gpuconform import dra
from gpuconform.dra_checks import DraState, readiness_findings
from gpuconform.profile import ProfileError, resolve_profile

UUIDS = {"n0": ["GPU-a", "GPU-b"], "n1": ["GPU-c", "GPU-d"]}


def _slice(node: str, uuids: list[str], driver: str = "580.159.4") -> dict:
    devices = [
        {
            "name": f"gpu-{i}",
            "attributes": {
                "uuid": {"string": u},
                "productName": {"string": "NVIDIA H200"},
                "driverVersion": {"version": driver},
                "cudaDriverVersion": {"version": "13.0.0"},
            },
        }
        for i, u in enumerate(uuids)
    ]
    return {"spec": {"driver": "gpu.nvidia.com", "nodeName": node, "devices": devices}}


def _smi(node: str) -> list[dict[str, str]]:
    return [{"uuid": u, "name": "NVIDIA H200", "driver_version": "580.159.04"} for u in UUIDS[node]]


def _state(**changes) -> DraState:
    state = DraState(
        device_classes={"gpu.nvidia.com"},
        plugin_ready={"n0", "n1"},
        plugin_waiting={},
        pools=dra.pools([_slice(n, u) for n, u in UUIDS.items()]),
        advertised={"n0": 0, "n1": 0},
    )
    for key, value in changes.items():
        setattr(state, key, value)
    return state


EXPECTED = {"n0": 2, "n1": 2}
SMI = {n: _smi(n) for n in UUIDS}


def test_a_healthy_setup_has_no_findings():
    assert readiness_findings(_state(), EXPECTED, SMI) == []


def test_driver_versions_compare_as_versions():
    assert dra.same_version("550.163.1", "550.163.01")
    assert not dra.same_version("550.163.1", "550.163.10")
    assert not dra.same_version("", "")
    assert dra.same_version("13.0", "13.0.0")
    assert not dra.same_version("13.0", "12.8")


def test_a_node_whose_plugin_is_not_ready_is_named_with_why():
    state = _state(plugin_ready={"n0"}, plugin_waiting={"n1": "init container init-container"})
    [finding] = readiness_findings(state, EXPECTED, SMI)
    assert finding.node == "n1"
    assert "no Ready DRA kubelet plugin (init container init-container)" in str(finding)
    assert "nvidiaDriverRoot" in finding.fix


def test_double_counting_is_a_finding_with_the_fix():
    [finding] = readiness_findings(_state(advertised={"n0": 2, "n1": 0}), EXPECTED, SMI)
    assert finding.node == "n0"
    assert "both the device plugin (nvidia.com/gpu=2) and the DRA driver" in finding.problem
    assert "remove the device plugin" in finding.fix


def test_a_missing_device_class_a_wrong_count_and_a_missing_pool():
    pools = dra.pools([_slice("n0", ["GPU-a"])])
    findings = readiness_findings(_state(device_classes=set(), pools=pools), EXPECTED, SMI)
    text = [str(f) for f in findings]
    assert text[0].startswith("DeviceClass gpu.nvidia.com does not exist")
    assert any(
        t.startswith("n0: ResourceSlice pool has 1 GPUs in 1 slice(s), expected 2") for t in text
    )
    assert any(t.startswith("n1: publishes no ResourceSlice") for t in text)


def test_attributes_that_disagree_with_nvidia_smi():
    pools = dra.pools(
        [_slice("n0", ["GPU-a", "GPU-x"], driver="550.1.0"), _slice("n1", UUIDS["n1"])]
    )
    text = [str(f) for f in readiness_findings(_state(pools=pools), EXPECTED, SMI)]
    assert any("device gpu-1 has uuid 'GPU-x', which nvidia-smi does not list" in t for t in text)
    assert any(
        "device gpu-0 says driverVersion '550.1.0', nvidia-smi '580.159.04'" in t for t in text
    )


def test_another_drivers_slices_are_not_counted():
    other = _slice("n0", ["x"])
    other["spec"]["driver"] = "compute-domain.nvidia.com"
    assert "n0" not in dra.pools([other])


def test_allocation_is_checked(tmp_path):
    path = tmp_path / "clusters.yaml"
    chart = "chart: {repo: sim}"
    path.write_text(
        f"profiles:\n  a: {{allocation: plugins, {chart}}}\n  b: {{allocation: auto, {chart}}}\n"
    )
    with pytest.raises(ProfileError, match="allocation must be one of device-plugin, dra, auto"):
        resolve_profile("a", path)
    assert resolve_profile("b", path).allocation == "auto"
    assert resolve_profile("b", path).dra.name == "nvidia-dra-driver-gpu"


def test_a_cuda_version_that_disagrees_with_nvidia_smi():
    smi = {n: [dict(g, cuda_version="12.8") for g in _smi(n)] for n in UUIDS}
    text = [str(f) for f in readiness_findings(_state(), EXPECTED, smi)]
    assert len(text) == 4, text
    assert "cudaDriverVersion '13.0.0', nvidia-smi CUDA Version '12.8'" in text[0]
