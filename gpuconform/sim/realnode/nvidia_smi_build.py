"""Build the SIMULATED nvidia-smi (``nvidia_smi/main.go``) that GPU nodes' driver roots carry.

Go with cgo (go-nvml loads libnvidia-ml.so.1 with dlopen), cached under a hash of its sources.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from gpuconform.sim import toolchain
from gpuconform.sim.staging import staging_path

SOURCE_DIR = Path(__file__).with_name("nvidia_smi")
SOURCES = ("go.mod", "go.sum", "main.go", "query.go")


def nvidia_smi_binary() -> Path:
    """The built tool; built now (seconds) when its sources changed or it was never built."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((SOURCE_DIR / name).read_bytes())
    out_dir = toolchain.cache_root() / "sim-tools" / digest.hexdigest()[:12]
    binary = out_dir / "nvidia-smi"
    if binary.exists():
        return binary
    component = toolchain.Component(
        name="nvidia-smi (simulated)", module="", version="", packages={}, ldflags={}, cgo=True
    )
    toolchain.check_cgo_needs(component)
    work = staging_path(out_dir / "src")  # a build beside ours copies into its own
    work.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        shutil.copy(SOURCE_DIR / name, work / name)
    tmp = staging_path(binary)
    toolchain.run_go(
        ["go", "build", "-ldflags", "-s -w", "-o", str(tmp), "."],
        work,
        "the simulated nvidia-smi",
        toolchain.go_env(cgo=True),
    )
    tmp.replace(binary)
    shutil.rmtree(work, ignore_errors=True)
    return binary
