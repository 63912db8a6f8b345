"""Each SIMULATED GPU node's NVML: a MOCK_NVML_CONFIG for NVIDIA's mock libnvidia-ml.so.1.

The mock library (third_party mock-nvml, from NVIDIA/k8s-test-infra) answers every NVML call
from a YAML GPU profile. This module writes one profile per node: a model file (ours in
gpu_models/, else the closest upstream one) with the node profile's GPU name, memory, driver and
CUDA versions set over it, and a `devices:` list whose UUIDs, serials and PCI bus IDs are derived
from the node name, so they differ between nodes and stay the same across restarts.

What the mock does with the config (checked against the library itself):
- `system.num_devices` (or the length of `devices:`) sets the device count; at most 8.
- With a config, MOCK_NVML_NUM_DEVICES is ignored, and a config listing no devices gets 8;
  so a node whose driver finds no GPU runs without a config (see `nvml_env(no_devices=True)`).
- Unknown keys are ignored silently (sigs.k8s.io/yaml), so a misspelt field changes nothing.
- A `failure:` block trips only on a "guarded" getter (GetTemperature, GetMemoryInfo, ECC
  counters, ...), never on handle lookups or nvmlEventSetWait, and every nvmlInit rebuilds the
  devices with fresh injectors. So an Xid reaches a process only if it calls a guarded getter in
  the NVML session in which it waits; the device plugin's health check does not.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from gpuconform.sim import third_party

GPU_MODELS_DIR = Path(__file__).with_name("gpu_models")
MAX_DEVICES = 8  # the mock's MaxDevices
MIB = 1 << 20
# Upstream profile names (mock-nvml-config-<model>.yaml) and ours; longest first so that
# "gb200" wins over "b200".
KNOWN_MODELS = ("gb300", "gb200", "l40s", "h200", "h100", "a100", "b200", "t4")
DEFAULT_MODEL = "h100"  # the closest upstream profile to an unknown (Hopper-era) GPU
_WORD = re.compile(r"[A-Za-z_][A-Za-z_]*")


class GpuSpec(Protocol):
    """What the config needs of a GPU; gpuconform.sim.nodes.GpuModel has these fields."""

    name: str
    memory_mib: int
    driver_version: str
    cuda_version: str


class _QuotingDumper(yaml.SafeDumper):
    """Quotes every string but plain words: the mock's Go YAML reads an unquoted serial like
    0123456789 as a number, and on any load error silently falls back to its default A100s."""


_QuotingDumper.add_representer(
    str,
    lambda dumper, data: dumper.represent_scalar(
        "tag:yaml.org,2002:str", data, style=None if _WORD.fullmatch(data) else '"'
    ),
)


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def node_uuids(node_name: str, count: int) -> list[str]:
    """The GPU UUIDs of a node, GPU-8-4-4-4-12 hex like real ones; the same on every call."""
    uuids = []
    for index in range(count):
        d = _digest(node_name, index)
        uuids.append(f"GPU-{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}")
    return uuids


def node_bus_ids(node_name: str, count: int) -> list[str]:
    """The GPUs' PCI bus IDs (``DDDD:BB:00.0``, the form the mock accepts), in index order.

    Buses are a per-node sample, sorted because NVML numbers GPUs in PCI bus order.
    """
    buses = sorted(random.Random(_digest(node_name, "pci")).sample(range(0x01, 0x100), count))
    return [f"0000:{bus:02X}:00.0" for bus in buses]


def model_key(gpu_name: str) -> str:
    """The GPU model a name belongs to (``NVIDIA H200`` -> ``h200``), else DEFAULT_MODEL."""
    compact = gpu_name.lower().replace(" ", "").replace("-", "")
    return next((key for key in KNOWN_MODELS if key in compact), DEFAULT_MODEL)


def model_profile(model: str) -> Path | None:
    """The mock NVML profile of a model: ours (gpu_models/<model>.yaml) first, then upstream's."""
    ours = GPU_MODELS_DIR / f"{model}.yaml"
    return ours if ours.is_file() else third_party.mock_nvml_config(model)


def write_node_nvml_config(
    node_name: str,
    gpu: GpuSpec,
    count: int,
    dest: Path,
    *,
    model: str | Path | None = None,
    failures: Mapping[int, Mapping[str, Any]] | None = None,
    mig_mode: str | None = None,
) -> Path:
    """Write the MOCK_NVML_CONFIG of one node's GPUs to ``dest`` and return ``dest``.

    ``model`` is a model name (``h200``) or a profile file; by default it follows ``gpu.name``.
    ``failures`` maps a GPU index to a mock failure block (e.g. ``{"mode": "lost"}``; see the
    upstream README's "Failure Injection"). ``mig_mode`` (``enabled``) turns MIG mode on for
    every GPU; the mock holds no MIG instance (its MIG enumeration is always empty).
    ``count`` is 1..8: the mock cannot express 0 devices in a config (use
    ``nvml_env(no_devices=True)``) nor more than 8.
    """
    if not 1 <= count <= MAX_DEVICES:
        raise ValueError(f"{node_name}: the mock NVML holds 1..{MAX_DEVICES} GPUs, not {count}")
    if isinstance(model, Path):
        profile: Path | None = model
    else:
        profile = model_profile(model or model_key(gpu.name))
    if profile is None:
        raise FileNotFoundError(
            f"no mock NVML profile for {gpu.name!r}; is {third_party.ENV_VAR} set up?"
        )
    base = yaml.safe_load(profile.read_text())
    cuda_major, _, cuda_minor = gpu.cuda_version.partition(".")
    defaults = _device_defaults(base["device_defaults"], gpu, mig_mode)
    devices = _devices(node_name, count, failures)
    config: dict[str, Any] = {
        "version": base.get("version", "1.0"),
        "system": {
            "driver_version": gpu.driver_version,
            "nvml_version": f"{cuda_major}.{gpu.driver_version}",
            "cuda_version": gpu.cuda_version,
            "cuda_version_major": int(cuda_major),
            "cuda_version_minor": int(cuda_minor or 0),
            "num_devices": count,
        },
        "device_defaults": defaults,
        "devices": devices,
    }
    # NVLink switches are kept; the upstream pcie_topology is not, since it names the
    # upstream bus IDs (without it the mock lays every GPU under one root complex).
    if base.get("nvlink"):
        config["nvlink"] = base["nvlink"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Mock NVML config of SIMULATED node {node_name}: {count}x {gpu.name} ({profile.name})\n"
    )
    dest.write_text(header + yaml.dump(config, Dumper=_QuotingDumper, sort_keys=False))
    return dest


def _device_defaults(
    upstream: Mapping[str, Any], gpu: GpuSpec, mig_mode: str | None
) -> dict[str, Any]:
    """The upstream model's device defaults with this node's GPU name, memory and driver."""
    defaults = dict(upstream)
    total = gpu.memory_mib * MIB
    memory = dict(defaults.get("memory") or {})
    reserved = min(int(memory.get("reserved_bytes", 0)), total)
    used = min(int(memory.get("used_bytes", 0)), total - reserved)
    memory |= {"total_bytes": total, "reserved_bytes": reserved, "used_bytes": used}
    memory["free_bytes"] = total - reserved - used
    defaults |= {"name": gpu.name, "memory": memory}
    if mig_mode is not None:
        mig = dict(defaults.get("mig") or {})
        defaults["mig"] = mig | {"mode_current": mig_mode, "mode_pending": mig_mode}
    if "gsp_firmware" in defaults:  # real GSP firmware carries the driver's version
        defaults["gsp_firmware"] = dict(defaults["gsp_firmware"], version=gpu.driver_version)
    return defaults


def _devices(
    node_name: str, count: int, failures: Mapping[int, Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The node's GPUs: index, UUID, serial and bus ID (stable per node name), any failure."""
    serial_base = (10**11 + int(_digest(node_name, "serial"), 16) % (9 * 10**11)) * 10
    devices = []
    for index, (uuid, bus_id) in enumerate(
        zip(node_uuids(node_name, count), node_bus_ids(node_name, count), strict=True)
    ):
        device: dict[str, Any] = {
            "index": index,
            "uuid": uuid,
            "serial": f"{serial_base + index:013d}",
            "pci": {"bus_id": bus_id},
            "minor_number": index,
        }
        if failures and index in failures:
            device["failure"] = dict(failures[index])
        devices.append(device)
    return devices


def nvml_env(
    lib_dir: Path, config: Path, *, no_devices: bool = False, debug: bool = False
) -> dict[str, str]:
    """The environment a process needs to use the mock NVML of a node (merge it into its env).

    ``no_devices``: the driver works but finds no GPU. The mock ignores MOCK_NVML_NUM_DEVICES
    when it has a config, so the config is left out (MOCK_NVML_CONFIG empty) and the node's
    driver version is passed on by MOCK_NVML_DRIVER_VERSION instead.
    A node without a working driver is a process without this environment.
    """
    env = {"LD_LIBRARY_PATH": str(lib_dir), "MOCK_NVML_CONFIG": str(config)}
    if no_devices:
        driver = yaml.safe_load(config.read_text())["system"]["driver_version"]
        env |= {
            "MOCK_NVML_CONFIG": "",
            "MOCK_NVML_NUM_DEVICES": "0",
            "MOCK_NVML_DRIVER_VERSION": driver,
        }
    if debug:
        env["MOCK_NVML_DEBUG"] = "1"
    return env
