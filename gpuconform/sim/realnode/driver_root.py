"""A GPU node's driver root: what a real node's NVIDIA driver install puts on its filesystem,
with the mock NVML in place of the real library and no kernel module behind the devices.

    <root>/usr/lib64/libnvidia-ml.so.<driver>   NVIDIA's mock NVML (SIMULATED GPUs)
    <root>/usr/lib64/libcuda.so.<driver>        empty: nvidia-ctk refuses a root without it
    <root>/etc/nvml-mock/config.yaml            the node's GPUs (MOCK_NVML_CONFIG)
    <root>/dev/nvidia<N>, nvidiactl             char 195,N and 195,255, as the driver makes them
    <root>/usr/bin/nvidia-smi                   SIMULATED (nvidia_smi/main.go): NVIDIA's is not
                                                ours to ship; it reads the mock NVML like the real
                                                one, and carries the node's mock config after its
                                                ELF image for containers given no MOCK_NVML_CONFIG

``nvidia-ctk cdi generate`` (NVIDIA's, unchanged) reads it and writes the node's CDI spec.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gpuconform.sim import nvml, third_party, toolchain
from gpuconform.sim.realnode.nvidia_smi_build import nvidia_smi_binary

NVIDIA_MAJOR = 195  # the NVIDIA driver's character-device major
NVIDIACTL_MINOR = 255
CONFIG_IN_ROOT = "etc/nvml-mock/config.yaml"
# Where a node shows its driver: the GPU Operator's path, so one chart value serves every node.
NODE_DRIVER_ROOT = "/run/nvidia/driver"
# Where a node keeps it: its view of NODE_DRIVER_ROOT (init.py's NODE_MOUNTS).
ROOT_IN_NODE_DIR = "root" + NODE_DRIVER_ROOT
# The mock reads its GPUs from MOCK_NVML_CONFIG; without it, it reports 8 default A100s.
MOCK_CONFIG_ENV = "MOCK_NVML_CONFIG"
# nvidia_smi/main.go's configStart and configEnd, around the config appended to the tool.
CARRIED_CONFIG = (b"\n#gpuconform-mock-nvml-config\n", b"\n#end-gpuconform-mock-nvml-config\n")


class DriverRootError(RuntimeError):
    """The driver root or its CDI spec could not be made; the message says which step."""


def _mknod(path: Path, minor: int) -> None:
    if path.exists():
        path.unlink()
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(NVIDIA_MAJOR, minor))


def build_driver_root(
    root: Path, node_name: str, gpu: nvml.GpuSpec, count: int, fault: Mapping[str, Any]
) -> Path:
    """Lay out the driver root for ``count`` GPUs; ``fault`` (faults.yaml) changes it:
    ``nvml: absent`` leaves the library out, ``nvml_devices: 0`` makes a driver that finds no
    GPU (no device nodes, no GPUs in the mock's config), ``nvml_failures`` and ``mig`` go into
    the mock's config (a GPU that takes an Xid; MIG mode)."""
    with_nvml = fault.get("nvml") != "absent"
    if fault.get("nvml_devices") == 0:
        count = 0
    lib_dir = root / "usr" / "lib64"
    dev_dir = root / "dev"
    lib_dir.mkdir(parents=True, exist_ok=True)
    dev_dir.mkdir(parents=True, exist_ok=True)
    version = gpu.driver_version
    if with_nvml:
        mock_dir = third_party.mock_nvml_dir()
        if mock_dir is None:
            raise DriverRootError(
                f"no mock libnvidia-ml.so.1 for {node_name}; set {third_party.ENV_VAR}"
            )
        shutil.copy2(mock_dir / "libnvidia-ml.so.1", lib_dir / f"libnvidia-ml.so.{version}")
        _symlink(f"libnvidia-ml.so.{version}", lib_dir / "libnvidia-ml.so.1")
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    shutil.copy2(nvidia_smi_binary(), smi)
    (lib_dir / f"libcuda.so.{version}").write_bytes(b"")
    _symlink(f"libcuda.so.{version}", lib_dir / "libcuda.so.1")
    config = root / CONFIG_IN_ROOT
    if count > 0:
        nvml.write_node_nvml_config(
            node_name,
            gpu,
            count,
            config,
            failures=fault.get("nvml_failures"),
            mig_mode=fault.get("mig"),
        )
        with smi.open("ab") as out:  # SIMULATED: see nvidia_smi/main.go, configStart
            out.write(CARRIED_CONFIG[0] + config.read_bytes() + CARRIED_CONFIG[1])
    for index in range(count):
        _mknod(dev_dir / f"nvidia{index}", index)
    _mknod(dev_dir / "nvidiactl", NVIDIACTL_MINOR)
    return root


def _symlink(target: str, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def generate_cdi_spec(root: Path, output: Path) -> Path:
    """Run NVIDIA's ``nvidia-ctk cdi generate`` on the driver root; write the spec to ``output``.

    Devices are named by index and by UUID: the device plugin hands out UUIDs
    (NVIDIA_VISIBLE_DEVICES=<uuid>), which nvidia-container-runtime in cdi mode turns into
    ``nvidia.com/gpu=<uuid>``.
    """
    config = root / CONFIG_IN_ROOT
    env = dict(os.environ, **{MOCK_CONFIG_ENV: str(config)} if config.exists() else {})
    cmd = [
        str(toolchain.require_node_binary("nvidia-ctk")),
        "cdi",
        "generate",
        f"--driver-root={root}",
        f"--dev-root={root}",
        f"--nvidia-cdi-hook-path={toolchain.require_node_binary('nvidia-cdi-hook')}",
        "--device-name-strategy=index",
        "--device-name-strategy=uuid",
        f"--output={output}",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DriverRootError(f"nvidia-ctk cdi generate failed for {root}: {' | '.join(detail)}")
    if config.exists():
        add_mock_config(output, config)
    return output


def add_mock_config(spec_path: Path, config: Path) -> None:
    """SIMULATED: hand the mock NVML its GPU config in every GPU container.

    A real driver needs nothing here; the mock learns its GPUs from MOCK_NVML_CONFIG, so the
    spec's common edits also mount the config and set that variable.
    """
    spec = yaml.safe_load(spec_path.read_text())
    edits = spec.setdefault("containerEdits", {})
    target = "/" + CONFIG_IN_ROOT
    edits.setdefault("env", []).append(f"{MOCK_CONFIG_ENV}={target}")
    edits.setdefault("mounts", []).append(
        {
            "hostPath": str(config),
            "containerPath": target,
            "options": ["ro", "nosuid", "nodev", "bind"],
        }
    )
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
