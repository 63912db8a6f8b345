"""SIMULATED ``nvidia-smi -q``: the real report's layout for the fields the mock NVML answers.

A real ``nvidia-smi -q`` (tests/data/h200-host/nvidia-smi-q.txt, 580.159.04) prints about 200
fields per GPU; this prints the ones the node's NVML reports here, in the real order, under the
real labels and indentation (labels padded to column 55). Fields it does not print are left
out, never filled in.
"""

from __future__ import annotations

import time

from gpuconform.sim.tools.gpus import Gpu, GpuSystem

LABEL_WIDTH = 55
_COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}


def _line(depth: int, label: str, value: object | None = None) -> str:
    text = "    " * depth + label
    if value is None:
        return text
    return f"{text:<{LABEL_WIDTH}}: {value}"


def _enabled(flag: bool | None) -> str:
    return "N/A" if flag is None else "Enabled" if flag else "Disabled"


def _mib(value: int | None) -> str:
    return "N/A" if value is None else f"{value} MiB"


def _gpu_lines(gpu: Gpu) -> list[str]:
    mig = _enabled(gpu.mig_enabled)
    lines = [
        f"GPU {gpu.bus_id}",
        _line(1, "Product Name", gpu.name),
        _line(1, "Persistence Mode", _enabled(gpu.persistence_mode)),
        _line(1, "MIG Mode"),
        _line(2, "Current", mig),
        _line(2, "Pending", mig),
        _line(1, "Serial Number", gpu.serial or "N/A"),
        _line(1, "GPU UUID", gpu.uuid),
        _line(1, "FB Memory Usage"),
        _line(2, "Total", _mib(gpu.memory_total_mib)),
        _line(2, "Used", _mib(gpu.memory_used_mib)),
        _line(2, "Free", _mib(gpu.memory_free_mib)),
        _line(1, "Compute Mode", _COMPUTE_MODES.get(gpu.compute_mode, "N/A")),
    ]
    return lines


def render_query_report(system: GpuSystem, timestamp: str | None = None) -> str:
    """``nvidia-smi -q``: the header block, then one block per visible GPU."""
    timestamp = timestamp or time.strftime("%a %b %e %H:%M:%S %Y")
    lines = [
        "",
        "==============NVSMI LOG==============",
        "",
        _line(0, "Timestamp", timestamp),
        _line(0, "Driver Version", system.driver_version),
        _line(0, "CUDA Version", system.cuda_version),
        "",
        _line(0, "Attached GPUs", len(system.gpus)),
    ]
    for gpu in system.gpus:
        lines += _gpu_lines(gpu)
        lines.append("")
    return "\n".join(lines) + "\n"
