"""The SIMULATED GPU tools, run as processes against NVIDIA's real mock NVML library."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpuconform.sim import nvml, third_party
from gpuconform.sim.nodes import load_node_profile
from gpuconform.sim.tools import nvidia_smi, vector_add

pytestmark = pytest.mark.sim

GPU = next(node.gpu for node in load_node_profile("healthy") if node.gpu)


@pytest.fixture(scope="module")
def lib_dir() -> Path:
    try:
        found = third_party.mock_nvml_dir()
    except third_party.ThirdPartyError as err:
        pytest.skip(f"mock NVML library unusable: {err}")
    if found is None:
        pytest.skip(f"mock NVML library unavailable (no {third_party.ENV_VAR} directory)")
    return found


@pytest.fixture(scope="module")
def node_env(lib_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a process on node gpu-node-0 with 4 H200s."""
    config = tmp_path_factory.mktemp("nvml") / "gpu-node-0.yaml"
    nvml.write_node_nvml_config("gpu-node-0", GPU, 4, config)
    return nvml.nvml_env(lib_dir, config)


def run(tool: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a tool as a container would, with only the given GPU environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MOCK_NVML", "NVIDIA_"))}
    base.pop("LD_LIBRARY_PATH", None)
    return subprocess.run(
        [sys.executable, "-m", "gpuconform.sim.tools", tool, *args],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_node_identities_are_unique_per_node_and_stable():
    uuids = nvml.node_uuids("gpu-node-0", 8)
    assert uuids == nvml.node_uuids("gpu-node-0", 8)
    assert len(set(uuids + nvml.node_uuids("gpu-node-1", 8))) == 16
    buses = nvml.node_bus_ids("gpu-node-0", 8)
    assert buses == sorted(set(buses)) and buses != nvml.node_bus_ids("gpu-node-1", 8)
    assert nvml.model_key("NVIDIA H200") == "h200"
    assert nvml.model_key("NVIDIA GB200 NVL") == "gb200"


def test_query_reports_the_node_profile_through_the_mock(node_env):
    proc = run(
        "nvidia-smi",
        "--query-gpu=index,name,uuid,memory.total,driver_version,pci.bus_id",
        "--format=csv,noheader",
        env=node_env | {"NVIDIA_VISIBLE_DEVICES": "all"},
    )
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    rows = [line.split(", ") for line in proc.stdout.splitlines()]
    uuids = nvml.node_uuids("gpu-node-0", 4)
    buses = ["0000" + bus for bus in nvml.node_bus_ids("gpu-node-0", 4)]
    expected = [
        [str(i), GPU.name, uuids[i], f"{GPU.memory_mib} MiB", GPU.driver_version, buses[i]]
        for i in range(4)
    ]
    assert rows == expected


def test_visible_devices_by_uuid_give_exactly_that_gpu(node_env):
    uuid = nvml.node_uuids("gpu-node-0", 4)[2]
    proc = run("nvidia-smi", "-L", env=node_env | {"NVIDIA_VISIBLE_DEVICES": uuid})
    assert (proc.returncode, proc.stdout) == (0, f"GPU 0: {GPU.name} (UUID: {uuid})\n")


def test_table_shows_the_visible_gpus_with_the_node_driver(node_env):
    proc = run("nvidia-smi", env=node_env | {"NVIDIA_VISIBLE_DEVICES": "1,3"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"Driver Version: {GPU.driver_version}" in lines[2]
    assert f"CUDA Version: {GPU.cuda_version} " in lines[2]
    assert sum(GPU.name in line for line in lines) == 2
    assert f"0MiB / {GPU.memory_mib}MiB" in proc.stdout


@pytest.mark.parametrize("visible", ["none", "GPU-00000000-0000-0000-0000-000000000000"])
def test_no_visible_gpu_means_no_devices(node_env, visible):
    proc = run("nvidia-smi", env=node_env | {"NVIDIA_VISIBLE_DEVICES": visible})
    if visible == "none":
        assert (proc.returncode, proc.stdout) == (6, nvidia_smi.NO_DEVICES + "\n")
    else:  # a real container asking for an unknown GPU would not start
        assert proc.returncode == 1 and "unknown device" in proc.stderr


def test_a_node_whose_driver_finds_no_gpu(lib_dir, node_env):
    env = nvml.nvml_env(lib_dir, Path(node_env["MOCK_NVML_CONFIG"]), no_devices=True)
    proc = run("nvidia-smi", env=env | {"NVIDIA_VISIBLE_DEVICES": "all"})
    assert (proc.returncode, proc.stdout) == (6, nvidia_smi.NO_DEVICES + "\n")


def test_without_the_library_nvidia_smi_fails_like_the_real_one():
    if ctypes.util.find_library("nvidia-ml"):
        pytest.skip("this host has a real libnvidia-ml, so NVML is never missing here")
    proc = run("nvidia-smi", env={"NVIDIA_VISIBLE_DEVICES": "all"})
    assert (proc.returncode, proc.stdout) == (12, nvidia_smi.NO_LIBRARY + "\n")


def test_vector_add_passes_only_with_a_visible_gpu(node_env):
    passed = run("vectorAdd", env=node_env | {"NVIDIA_VISIBLE_DEVICES": "0"})
    assert passed.returncode == 0
    assert passed.stdout.splitlines()[-2:] == ["Test PASSED", "Done"]
    failed = run("vectorAdd", env=node_env | {"NVIDIA_VISIBLE_DEVICES": "none"})
    assert failed.returncode == 1
    assert failed.stderr == vector_add.FAILED.format(vector_add.NO_DEVICE) + "\n"


def test_lost_gpu_stops_nvidia_smi(lib_dir, tmp_path):
    config = nvml.write_node_nvml_config(
        "gpu-node-9", GPU, 2, tmp_path / "lost.yaml", failures={1: {"mode": "lost"}}
    )
    assert yaml.safe_load(config.read_text())["devices"][1]["failure"] == {"mode": "lost"}
    env = nvml.nvml_env(lib_dir, config) | {"NVIDIA_VISIBLE_DEVICES": "all"}
    proc = run("nvidia-smi", env=env)
    assert proc.returncode == 15 and "GPU is lost" in proc.stdout
    assert run("nvidia-smi", "-L", env=env | {"NVIDIA_VISIBLE_DEVICES": "0"}).returncode == 0


def test_a_mixed_fleets_l40s_node_lists_l40s_gpus_from_nvidias_l40s_profile(lib_dir, tmp_path):
    """A node group's own GPU model (node_profiles/mixed-fleet.yaml) reaches the node's NVML:
    its config is built over NVIDIA's mock-nvml-config-l40s.yaml, and nvidia-smi lists L40S."""
    l40s = next(n for n in load_node_profile("mixed-fleet") if n.name == "gpu-l40s-0")
    config = nvml.write_node_nvml_config(l40s.name, l40s.gpu, l40s.gpus, tmp_path / "l40s.yaml")
    assert "(mock-nvml-config-l40s.yaml)" in config.read_text().splitlines()[0]
    env = nvml.nvml_env(lib_dir, config) | {"NVIDIA_VISIBLE_DEVICES": "all"}
    listed = run("nvidia-smi", "-L", env=env)
    assert listed.returncode == 0, listed.stderr
    names = [line.split(": ", 1)[1].split(" (UUID")[0] for line in listed.stdout.splitlines()]
    assert names == ["NVIDIA L40S"] * 4
