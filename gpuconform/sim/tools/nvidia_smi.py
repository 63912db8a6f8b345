"""SIMULATED ``nvidia-smi``: the default table, ``-L``, ``-q`` (nvidia_smi_q.py) and
``--query-gpu=... --format=csv``.

The values are what the node's (mock) NVML reports; the layout is a real nvidia-smi 580's,
column for column as in tests/data/h200-host/nvidia-smi.txt. Messages and exit codes are the
real ones (nvidia-smi exits with the NVML error code: 6 not found, 9 driver not loaded,
12 library not found, 15 GPU lost; 2 for bad arguments).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pynvml

from gpuconform.sim.tools.gpus import (
    Gpu,
    GpuLost,
    GpuSystem,
    NvmlUnavailable,
    UnknownDevice,
    read_system,
)
from gpuconform.sim.tools.nvidia_smi_q import render_query_report

NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)
NO_LIBRARY = (
    "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that "
    "the NVIDIA Display Driver is properly installed and present in your system.\n"
    "Please also try adding directory that contains libnvidia-ml.so to your system PATH."
)
NO_DEVICES = "No devices were found"
BAD_ARGS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."

_TOP = "+" + "-" * 89 + "+"
_GRID = (
    "+-----------------------------------------+------------------------+----------------------+"
)
_HEADER = [
    "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
    "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
    "|                                         |                        |               MIG M. |",
    "|=========================================+========================+======================|",
]
# The mock reports no processes, so the Processes box is always the empty one.
_PROCESSES = [
    _TOP,
    "| Processes:                                                                              |",
    "|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |",
    "|        ID   ID                                                               Usage      |",
    "|=========================================================================================|",
    "|  No running processes found                                                             |",
    _TOP,
]
_COMPUTE_MODES = {0: "Default", 1: "E. Thread", 2: "Prohibited", 3: "E. Process"}


def _na(value: object, fmt: Callable[[object], str] = str) -> str:
    return "N/A" if value is None else fmt(value)


def _on_off(value: bool | None) -> str:
    return _na(value, lambda v: "On" if v else "Off")


def _row(*cells: str) -> str:
    # Cells are fixed widths (41, 24, 22); a value too long shifts the row, as in the real tool.
    return "|" + "|".join(cells) + "|"


def _gpu_rows(gpu: Gpu) -> list[str]:
    # nvidia-smi shortens long product names; the exact rule is not known, this keeps the box.
    name = gpu.name if len(gpu.name) <= 30 else gpu.name[:27] + "..."
    ecc = "Off" if gpu.ecc_enabled is False else _na(gpu.ecc_uncorrected)
    memory = f"{_na(gpu.memory_used_mib)}MiB / {_na(gpu.memory_total_mib)}MiB"
    # The table truncates milliwatts to whole watts (122.59 W shows as 122W).
    usage = _na(gpu.power_draw_mw, lambda mw: f"{mw // 1000}W")
    cap = _na(gpu.power_limit_mw, lambda mw: f"{mw // 1000}W")
    mig = _na(gpu.mig_enabled, lambda on: "Enabled" if on else "Disabled")
    return [
        _row(
            f" {gpu.index:>3}  {name:<30}{_on_off(gpu.persistence_mode):>3}  ",
            f"{gpu.bus_id:>19} {_on_off(gpu.display_active):>3} ",
            f"{ecc:>21} ",
        ),
        _row(
            f" {_na(gpu.fan_percent, lambda p: f'{p}%'):>3}"
            f"{_na(gpu.temperature_c, lambda c: f'{c}C'):>6}"
            f"{_na(gpu.pstate, lambda p: f'P{p}'):>6}{usage:>16} / {cap:>5} ",
            f"{memory:>23} ",
            f"{_na(gpu.utilization_gpu, lambda u: f'{u}%'):>8}"
            f"{_na(gpu.compute_mode, lambda m: _COMPUTE_MODES.get(m, 'N/A')):>13} ",
        ),
        _row(" " * 41, " " * 24, f"{mig:>21} "),
        _GRID,
    ]


def render_table(system: GpuSystem, timestamp: str | None = None) -> str:
    """The default ``nvidia-smi`` output; ``timestamp`` defaults to now (ctime form)."""
    timestamp = timestamp or time.strftime("%a %b %e %H:%M:%S %Y")
    driver = system.driver_version
    lines = [
        f"{timestamp}       ",
        _TOP,
        f"| NVIDIA-SMI {driver:<23}Driver Version: {driver:<15}"
        f"CUDA Version: {system.cuda_version:<9}|",
        _GRID,
        *_HEADER,
    ]
    for gpu in system.gpus:
        lines += _gpu_rows(gpu)
    lines += ["", *_PROCESSES]
    return "\n".join(lines) + "\n"


def render_list(system: GpuSystem) -> str:
    """``nvidia-smi -L``."""
    return "".join(f"GPU {g.index}: {g.name} (UUID: {g.uuid})\n" for g in system.gpus)


@dataclass(frozen=True)
class _Field:
    name: str  # as the CSV header shows it
    unit: str | None
    value: Callable[[Gpu, GpuSystem], object]


_FIELDS = {
    f.name: f
    for f in (
        _Field("index", None, lambda g, s: g.index),
        _Field("name", None, lambda g, s: g.name),
        _Field("uuid", None, lambda g, s: g.uuid),
        _Field("serial", None, lambda g, s: g.serial),
        _Field("driver_version", None, lambda g, s: s.driver_version),
        _Field("count", None, lambda g, s: len(s.gpus)),
        _Field("pci.bus_id", None, lambda g, s: g.bus_id),
        _Field("memory.total", "MiB", lambda g, s: g.memory_total_mib),
        _Field("memory.used", "MiB", lambda g, s: g.memory_used_mib),
        _Field("memory.free", "MiB", lambda g, s: g.memory_free_mib),
        _Field("temperature.gpu", None, lambda g, s: g.temperature_c),
        _Field("compute_cap", None, lambda g, s: g.compute_cap and "{}.{}".format(*g.compute_cap)),
        _Field(
            "persistence_mode",
            None,
            lambda g, s: _na(g.persistence_mode, lambda on: "Enabled" if on else "Disabled"),
        ),
    )
}
_ALIASES = {"gpu_name": "name", "gpu_uuid": "uuid", "gpu_serial": "serial"}
_ALIASES |= {"gpu_bus_id": "pci.bus_id", "compute_capability": "compute_cap"}


def parse_query(fields: str) -> list[str]:
    """The canonical names of ``--query-gpu`` fields; raises ValueError with the real message."""
    names = []
    for raw in fields.split(","):
        name = _ALIASES.get(raw.strip(), raw.strip())
        if name not in _FIELDS:
            raise ValueError(f'Field "{raw.strip()}" is not a valid field to query.')
        names.append(name)
    return names


def render_query(
    system: GpuSystem, fields: list[str], header: bool = True, units: bool = True
) -> str:
    """``--query-gpu=<fields> --format=csv[,noheader][,nounits]``; N/A values print [N/A]."""
    lines = []
    if header:
        lines.append(
            ", ".join(f"{f} [{_FIELDS[f].unit}]" if _FIELDS[f].unit else f for f in fields)
        )
    for gpu in system.gpus:
        cells = []
        for name in fields:
            field = _FIELDS[name]
            value = field.value(gpu, system)
            if value is None:
                cells.append("[N/A]")
            else:
                cells.append(f"{value} {field.unit}" if field.unit and units else str(value))
        lines.append(", ".join(cells))
    return "\n".join(lines) + "\n"


def _parse_args(args: list[str]) -> tuple[str, list[str], set[str]]:
    """(mode, query fields, csv options); raises ValueError with the message to print."""
    if not args:
        return "table", [], set()
    if args in (["-L"], ["--list-gpus"]):
        return "list", [], set()
    if args in (["-q"], ["--query"]):
        return "report", [], set()
    query = fmt = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        key, eq, value = arg.partition("=")
        if key in ("--query-gpu", "--format") and not eq and rest:
            value = rest.pop(0)
        if key == "--query-gpu":
            query = value
        elif key == "--format":
            fmt = value
        else:
            raise ValueError(BAD_ARGS)
    options = {o.strip() for o in (fmt or "").split(",")}
    if query is None or "csv" not in options or options - {"csv", "noheader", "nounits"}:
        raise ValueError(BAD_ARGS)
    return "query", parse_query(query), options


def main(args: list[str]) -> int:
    """Run ``nvidia-smi args`` against this process's NVML; print, and return the exit code."""
    try:
        mode, fields, options = _parse_args(args)
    except ValueError as err:
        print(err)
        return 2
    try:
        system = read_system()
    except NvmlUnavailable as err:
        if err.code == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND:
            print(NO_LIBRARY)
            return 12
        print(NO_DRIVER)
        return 9
    except UnknownDevice as err:
        # A real container with this NVIDIA_VISIBLE_DEVICES would not have started.
        print(f"nvidia-container-cli: device error: {err}: unknown device", file=sys.stderr)
        return 1
    except GpuLost as err:
        where = f"GPU{str(err.args[0])[4:]}" if err.args[0] else "GPU"
        print(
            f"Unable to determine the device handle for {where}: GPU is lost.  "
            "Reboot the system to recover this GPU"
        )
        return 15
    if not system.gpus:
        print(NO_DEVICES)
        return 6
    if mode == "list":
        sys.stdout.write(render_list(system))
    elif mode == "report":
        sys.stdout.write(render_query_report(system))
    elif mode == "query":
        sys.stdout.write(
            render_query(system, fields, "noheader" not in options, "nounits" not in options)
        )
    else:
        sys.stdout.write(render_table(system))
    return 0
