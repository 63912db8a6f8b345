"""Image references of the SIMULATED registry, and which real program an image runs.

The registry (registry.yaml) decides whether an image can be pulled at all. A pulled image of
NVIDIA's device plugin runs the real binary that `nvcr.io/nvidia/k8s-device-plugin:<tag>`
contains, built from that tag (gpuconform.sim.third_party); the tag picks the version. The same
holds for Node Feature Discovery's image (`nfd-master`, `nfd-worker`, `nfd-gc`), which the
chart's nfd subchart deploys next to GPU feature discovery.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from gpuconform.sim import third_party

REGISTRY_FILE = Path(__file__).resolve().parents[1] / "registry.yaml"
PLUGIN_REPOSITORY = "nvcr.io/nvidia/k8s-device-plugin"
# Programs in the plugin image; its default entrypoint is the device plugin.
PLUGIN_IMAGE_PROGRAMS = ("nvidia-device-plugin", "gpu-feature-discovery", "config-manager")
DEFAULT_PROGRAM = "nvidia-device-plugin"
NFD_REPOSITORY = "registry.k8s.io/nfd/node-feature-discovery"
NFD_PROGRAMS = ("nfd-master", "nfd-worker", "nfd-gc")


@cache
def simulated_registry() -> dict[str, list[str]]:
    return yaml.safe_load(REGISTRY_FILE.read_text()) or {}


def split_image(image: str) -> tuple[str, str]:
    """`repo:tag` -> (repo, tag); a digest or a missing tag gives tag `latest`."""
    name = image.split("@", 1)[0]
    repository, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return repository, tag


def image_missing(image: str) -> bool:
    """Would pulling this image fail (a repository the simulated registry knows, not this tag)?"""
    repository, tag = split_image(image)
    tags = simulated_registry().get(repository)
    return tags is not None and tag not in tags


# A container may start the image's programs through its shell (the GPU Operator runs
# `/bin/sh -c /bin/entrypoint.sh`, which execs nvidia-device-plugin). The shell is this
# machine's; the programs it finds on PATH are the image's.
SHELLS = ("sh", "bash")


@dataclass(frozen=True)
class RealProgram:
    """A real binary that an image's container runs (the image tag picked its version)."""

    path: Path
    name: str
    # Where the image's other programs are, ahead of PATH (a shell entrypoint finds them).
    image_path: tuple[Path, ...] = ()


def plugin_program(image: str, command: list[str]) -> str | None:
    """Which program of the plugin image a container runs, or None for other images."""
    repository, _ = split_image(image)
    if repository != PLUGIN_REPOSITORY:
        return None
    program = os.path.basename(command[0]) if command else DEFAULT_PROGRAM
    return program if program in PLUGIN_IMAGE_PROGRAMS else None


def nfd_program(image: str, command: list[str]) -> str | None:
    """Which Node Feature Discovery program a container runs, or None for other images."""
    repository, _ = split_image(image)
    program = os.path.basename(command[0]) if command else ""
    return program if repository == NFD_REPOSITORY and program in NFD_PROGRAMS else None


def real_program(image: str, command: list[str]) -> RealProgram | None:
    """The real binary for this container, or None where none is available here."""
    repository, tag = split_image(image)
    shell = os.path.basename(command[0]) if command else ""
    if repository == PLUGIN_REPOSITORY and shell in SHELLS:
        found = [third_party.plugin_binary(tag, name) for name in PLUGIN_IMAGE_PROGRAMS]
        dirs = tuple(dict.fromkeys(p.parent for p in found if p is not None))
        return RealProgram(Path("/bin") / shell, shell, dirs) if dirs else None
    if program := plugin_program(image, command):
        path = third_party.plugin_binary(tag, program)
    elif program := nfd_program(image, command):
        path = third_party.nfd_binary(tag, program)
    else:
        return None
    return RealProgram(path, program) if path else None
