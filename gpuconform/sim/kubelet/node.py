"""One SIMULATED GPU node as its kubelet sees it: directories, the node's NVML, devices.

Everything here is read from the Node object's `sim.gpuconform.io/*` annotations (written
from the node profile), so the agent needs no copy of the profile.

* The node's root filesystem is a directory; hostPath volumes map into it. The device-plugin
  directory lives under a short path of its own, since unix socket paths are limited to 107
  bytes and the cache directory is deep.
* The node's driver is NVIDIA's mock NVML library configured for this node (model, count,
  memory, driver version, per-node UUIDs). A `broken-driver` node has no NVML library at all,
  a `no-devices` node an NVML that finds 0 GPUs: the real plugin meets them as it would.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gpuconform.sim import nvml, third_party
from gpuconform.sim.faults import load_faults
from gpuconform.sim.nodes import (
    ANNOTATION_CUDA,
    ANNOTATION_DRIVER,
    ANNOTATION_FAULT,
    ANNOTATION_GPU_MEMORY,
    ANNOTATION_GPU_NAME,
    ANNOTATION_GPUS,
)

DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"


def socket_root(state_dir: Path) -> Path:
    """Short per-cluster directory for the nodes' device-plugin sockets."""
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"gpuconform-dp-{digest}"


@dataclass
class SimNodeRuntime:
    """The kubelet-side state of one simulated node."""

    name: str
    annotations: dict[str, str]
    state_dir: Path
    device_manager: Any = None  # NodeDeviceManager once the node runs real plugins
    # pod uid -> device IDs, for the simulated registration (no real plugin on this node)
    simulated_allocations: dict[str, list[str]] = field(default_factory=dict)
    # pod UID -> devices its init containers left for its next container (kubelet's reuse)
    simulated_reuse: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_node(cls, node: Any, state_dir: Path) -> SimNodeRuntime | None:
        """The runtime of a gpuconform sim node, or None for any other node."""
        annotations = node.metadata.annotations or {}
        if ANNOTATION_GPUS not in annotations:
            return None
        return cls(node.metadata.name, annotations, state_dir)

    @property
    def gpus(self) -> int:
        return int(self.annotations[ANNOTATION_GPUS])

    @property
    def fault_name(self) -> str:
        return self.annotations.get(ANNOTATION_FAULT, "")

    @property
    def fault(self) -> dict[str, Any]:
        return load_faults().get(self.fault_name, {})

    @property
    def root(self) -> Path:
        """The directory standing in for the node's root filesystem."""
        return self.state_dir / "hosts" / self.name

    @property
    def device_plugin_dir(self) -> Path:
        return socket_root(self.state_dir) / self.name

    def host_path(self, path: str) -> Path:
        """Where a hostPath volume of this node lives on the machine running the sim."""
        if path.rstrip("/") == DEVICE_PLUGIN_DIR:
            target = self.device_plugin_dir
        else:
            target = self.root / path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        return target

    # -- the node's NVML (the driver layer) ------------------------------------------------
    @property
    def has_nvml(self) -> bool:
        """Does the node's driver layer have an NVML library (the mock) at all?"""
        return self.gpus > 0 and self.fault.get("nvml", "present") != "absent"

    @cached_property
    def nvml_env(self) -> dict[str, str]:
        """Env that makes a process on this node load the node's NVML; empty when it has none."""
        lib_dir = third_party.mock_nvml_dir()
        if not self.has_nvml or lib_dir is None:
            return {}
        gpu = SimpleNamespace(
            name=self.annotations.get(ANNOTATION_GPU_NAME, ""),
            memory_mib=int(self.annotations.get(ANNOTATION_GPU_MEMORY, "0")),
            driver_version=self.annotations.get(ANNOTATION_DRIVER, ""),
            cuda_version=self.annotations.get(ANNOTATION_CUDA, ""),
        )
        config = nvml.write_node_nvml_config(
            self.name,
            gpu,
            self.gpus,
            self.root / "etc" / "mock-nvml.yaml",
            mig_mode=self.fault.get("mig"),
            failures=self.fault.get("nvml_failures"),
        )
        return nvml.nvml_env(lib_dir, config, no_devices=self.fault.get("nvml_devices") == 0)

    def device_uuids(self) -> list[str]:
        """UUIDs of the node's GPUs, as its NVML reports them."""
        return nvml.node_uuids(self.name, self.gpus)
