"""The cgroups of a real node: one directory per hierarchy, created before kubelet starts
(kubelet refuses a cgroupRoot that does not exist) and removed, deepest first, when it stops."""

from __future__ import annotations

import time
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
REMOVE_WAIT_S = 10


def hierarchies() -> list[Path]:
    """The mounted cgroup v1 hierarchies (or the one v2 hierarchy)."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink())


def create(root: str) -> None:
    for hierarchy in hierarchies():
        path = hierarchy / root.strip("/")
        path.mkdir(parents=True, exist_ok=True)
        if hierarchy == CGROUP_FS and (hierarchy / "cgroup.controllers").exists():
            _delegate_v2(hierarchy, Path(root.strip("/")))
            continue
        if (hierarchy / "cpuset.cpus").exists():
            # A new v1 cpuset is empty: no task may join it until cpus and mems are set.
            parts = Path(root.strip("/")).parts
            for depth in range(1, len(parts) + 1):
                _inherit_cpuset(hierarchy / Path(*parts[:depth]))


def _delegate_v2(hierarchy: Path, rel: Path) -> None:
    """cgroup v2: enable the controllers kubelet needs from the top down to the node's cgroup,
    which kubelet then divides (kubepods, QoS classes, pods)."""
    wanted = (hierarchy / "cgroup.controllers").read_text().split()
    for level in [hierarchy, *(hierarchy / p for p in reversed(rel.parents[:-1])), hierarchy / rel]:
        available = (level / "cgroup.controllers").read_text().split()
        enable = " ".join(f"+{c}" for c in wanted if c in available)
        if enable:
            (level / "cgroup.subtree_control").write_text(enable)


def _inherit_cpuset(path: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not (path / name).read_text().strip():
            (path / name).write_text((path.parent / name).read_text())


def leftovers(root: str) -> list[Path]:
    """The node's cgroup directories that still exist, deepest first."""
    found: list[Path] = []
    for hierarchy in hierarchies():
        top = hierarchy / root.strip("/")
        if top.is_dir():
            found += sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            found.append(top)
    return found


def remove(root: str) -> None:
    """Remove the node's cgroups; a cgroup whose last task is still exiting is retried."""
    deadline = time.monotonic() + REMOVE_WAIT_S
    while True:
        stuck = []
        for path in leftovers(root):
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                stuck.append(path)
        if not stuck:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"cgroups still busy after {REMOVE_WAIT_S}s: {stuck[:3]}")
        time.sleep(0.05)  # the kernel frees a cgroup when its last killed task is reaped
    for hierarchy in hierarchies():  # the cluster's and gpuconform's dirs, once empty
        for parent in Path(root.strip("/")).parents[:-1]:
            try:
                (hierarchy / parent).rmdir()
            except OSError:
                break
