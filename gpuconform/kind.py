"""Ephemeral kind clusters through pytest-kind, where a Docker engine is reachable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any


class KindUnavailable(RuntimeError):
    """kind cannot run here (no Docker engine); the message says so in one line."""


def docker_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    proc = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=20)
    return proc.returncode == 0


def start_kind(workdir: Path) -> Any:
    """Create an ephemeral kind cluster; its `.delete()` removes it."""
    if not docker_available():
        raise KindUnavailable(
            "the kind profile needs a running Docker engine and none is reachable here; "
            "use --cluster=sim for the simulated cluster"
        )
    from pytest_kind import KindCluster

    cluster = KindCluster(name=f"gpuconform-{workdir.name[-15:].lower()}")
    cluster.create()
    return cluster
