"""Positive findings from raw tool output: a driver layer that works is said to work.

Single-GPU texts are real captures (tests/data/h200-host/, tests/data/real-world/healthy/);
the 8-GPU texts come from the simulated tools, whose format is checked line for line against
the real H200 capture (test_sim_tools_format.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.healthy import read_driver_health
from gpuconform.sim.fake_tools import container_cli_info
from gpuconform.sim.tools.nvidia_smi import render_list, render_table
from tests.gpuconform.sim.tools.test_nvidia_smi import H200, SYSTEM

DATA = Path(__file__).resolve().parents[2] / "data"
EIGHT = replace(
    SYSTEM, gpus=[replace(H200, index=n, bus_id=f"00000000:{n:02X}:00.0") for n in range(8)]
)


def summary(text: str) -> str | None:
    health = read_driver_health(text)
    return health.summary() if health else None


def test_eight_h200s_in_every_format():
    assert summary(container_cli_info(EIGHT)) == (
        "driver layer healthy: NVRM 580.159.04, CUDA 13.0, 8 GPU(s) (NVIDIA H200)"
    )
    assert summary(render_table(EIGHT)) == (
        "driver layer healthy: driver 580.159.04, CUDA 13.0, 8 GPU(s) (NVIDIA H200)"
    )
    assert summary(render_list(EIGHT)) == "driver layer healthy: 8 GPU(s) (NVIDIA H200)"


def test_real_nvidia_smi_q_gives_model_count_and_driver():
    text = (DATA / "h200-host/nvidia-smi-q.txt").read_text()
    health = read_driver_health(text)
    assert (health.tool, health.driver, health.cuda, health.gpus, health.models) == (
        "nvidia-smi -q",
        "580.159.04",
        "13.0",
        1,
        ("NVIDIA H200",),
    )


def test_failing_tools_are_never_healthy():
    for name in (
        "compute-gpu-installation-18-nvidia-smi-no-driver.txt",
        "k8s-device-plugin-1431-nvidia-smi-mismatch.txt",
        "owod-81-gpu-lost.txt",
        "nvidia-container-toolkit-1227-nvml-unknown-error.txt",
    ):
        assert read_driver_health((DATA / "real-world" / name).read_text()) is None, name
    assert read_driver_health((DATA / "outputs/probe-broken-driver.txt").read_text()) is None


def test_a_driver_fault_in_the_same_text_withdraws_the_finding():
    table = render_table(SYSTEM)
    text = table + "\nFailed to initialize NVML: Driver/library version mismatch\n"
    explanation = explain([Evidence("file", "smi.txt", text)])
    assert explanation.primary.signature.id == "driver-library-version-mismatch"
    assert explanation.healthy == []


def test_node_probe_reports_the_raw_sections_that_succeeded():
    text = (DATA / "h200-host/node-probe-h200.txt").read_text()
    explanation = explain([Evidence("node-probe", "h200-host", text, node="h200-host")])
    [healthy] = explanation.healthy
    assert healthy.node == "h200-host"
    assert healthy.summary() == (
        "driver layer healthy: driver 580.159.04, CUDA 13.0, 1 GPU(s) (NVIDIA H200)"
    )


def test_explain_prints_healthy_layers_after_the_problems():
    crash = (DATA / "real-world/cloud-atlas-plugin-crashloop.txt").read_text()
    info = (DATA / "real-world/healthy/cloud-atlas-nvidia-container-cli-info.txt").read_text()
    explanation = explain([Evidence("file", "pods.txt", crash), Evidence("file", "info.txt", info)])
    text = explanation.render()
    assert text.startswith("1. [device-plugin]")
    assert text.index("1. [device-plugin]") < text.index("Healthy:") < text.index("(info)")
    assert (
        "   [driver] driver layer healthy: NVRM 525.60.13, CUDA 12.0, 1 GPU(s) "
        "(NVIDIA Graphics Device) - from nvidia-container-cli info (info.txt)"
    ) in text
