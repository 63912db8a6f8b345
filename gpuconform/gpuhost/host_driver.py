"""A real node whose driver root is the host's own NVIDIA driver: nothing here is simulated.

``nvidia-ctk cdi generate`` reads the host's driver (``/``) and writes the node's CDI spec, so
GPU containers get the real device nodes and the real ``libcuda.so.1``, ``libnvidia-ml.so.1``
and ``nvidia-smi``. The broken variant (fault ``driver-hidden``) hides the driver from the
runtime: nvidia-ctk is pointed at an empty driver root, as on a node whose runtime was
configured with the wrong ``--driver-root``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HOST_ROOT = Path("/")
HIDDEN_ROOT = "hidden-driver-root"
GPU_FILE = "host-gpu.csv"  # what the host's nvidia-smi says, for the report header
QUERY = ["--query-gpu=index,name,uuid,driver_version", "--format=csv,noheader"]


class HostDriverError(RuntimeError):
    """The host has no usable NVIDIA driver; the message says what was missing."""


def driver_root(node_dir: Path, hidden: bool) -> Path:
    """The driver root the node's nvidia-ctk reads: the host's, or an empty one (hidden)."""
    if not hidden:
        return HOST_ROOT
    empty = node_dir / HIDDEN_ROOT
    empty.mkdir(parents=True, exist_ok=True)
    return empty


def nvml_path(ld_cache: str) -> str | None:
    """The first libnvidia-ml.so.1 in ``ldconfig -p`` output (the one the loader takes)."""
    for line in ld_cache.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.startswith("libnvidia-ml.so.1 "):
            return path.strip()
    return None


def operator_layout(root: str) -> dict[str, str]:
    """Bind mounts (node path -> host path) that show the host's driver at ``root`` in the
    layout the GPU Operator's driver container gives it: ``usr/bin`` (nvidia-smi's
    directory), ``usr/lib64`` (libnvidia-ml.so.1's, as the host's ld cache names it) and
    ``dev``. NVIDIA's DRA driver looks for its driver only in such standard directories
    (its chart's kubelet-plugin-prestart.sh); the lent H200 keeps its driver in
    /usr/local/nvidia/{bin,lib64}. Nothing is copied: the node sees the host's own files."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise HostDriverError("nvidia-smi is not on PATH: this host has no NVIDIA driver")
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    nvml = nvml_path(cache)
    if nvml is None:
        raise HostDriverError("the host's ld cache has no libnvidia-ml.so.1 (ldconfig -p)")
    return {
        f"{root}/usr/bin": str(Path(smi).resolve().parent),
        f"{root}/usr/lib64": str(Path(nvml).resolve().parent),
        f"{root}/dev": "/dev",
    }


def record_host_gpus(node_dir: Path) -> str:
    """Ask the host's real nvidia-smi for its GPUs; keep the answer beside the node."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise HostDriverError("nvidia-smi is not on PATH: this host has no NVIDIA driver")
    proc = subprocess.run([smi, *QUERY], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise HostDriverError(f"nvidia-smi failed on the host: {proc.stderr.strip()[-300:]}")
    (node_dir / GPU_FILE).write_text(proc.stdout)
    return proc.stdout


def host_gpu_facts(state_dir: Path) -> dict[str, str]:
    """For the report header: each host-driver node's GPUs, as the host's nvidia-smi said."""
    facts = {}
    for path in sorted((state_dir / "nodes").glob(f"*/{GPU_FILE}")):
        for line in path.read_text().strip().splitlines():
            index, name, uuid, driver = (part.strip() for part in line.split(","))
            facts[f"GPU {index} of {path.parent.name}"] = f"{name}, {uuid}, driver {driver}"
    return facts
