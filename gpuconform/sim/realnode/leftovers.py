"""What a cluster's real nodes could leave on the host, listed kind by kind.

``sim down`` must leave every list empty; the real-node tests assert it after a normal stop,
an interrupted start and a SIGKILLed node. Namespaces are recognised by the inode numbers
recorded when each node started (``node.json``), so another cluster's nodes never count.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from gpuconform.sim.realnode import cgroups

NAMESPACES = ("mnt", "net", "pid")
PROCESSES = "processes (containerd, kubelet, kube-proxy, containers)"
# A process name (comm) is cut at 15 characters: containerd-shim-runc-v2 -> containerd-shim.
SHIM = "(containerd-shim"


def namespace_inodes(pid: int) -> dict[str, int]:
    return {ns: os.stat(f"/proc/{pid}/ns/{ns}").st_ino for ns in NAMESPACES}


def cluster_marker(state_dir: Path) -> str:
    """Text that only this cluster's nodes have in their mount tables: the source path of the
    node directories bind-mounted on the fixed paths (the cluster's name is unique)."""
    return f"/{state_dir.name}/nodes/"


def _mounts_of(pid: str, marker: str) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return False  # exited meanwhile


def pids_in(inodes: set[int], cgroup_roots: list[str], marker: str) -> dict[int, str]:
    """The node's processes: pid -> what it is. Those in its namespaces (init, containerd,
    kubelet, kube-proxy, shims) and those in its cgroups (containers, which have namespaces
    of their own).

    A namespace's inode number is reused once the namespace is gone, and other clusters on
    this machine create namespaces all the time: a process in a namespace of a recorded
    number counts only if its mount table also shows this cluster's node directories
    (``marker``). Without that, `sim down` would kill another cluster's processes."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            held = [ns for ns in NAMESPACES if os.stat(f"/proc/{pid}/ns/{ns}").st_ino in inodes]
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # exited meanwhile
        if any(f":{root}/" in cgroup or cgroup.endswith(f":{root}") for root in cgroup_roots):
            found[int(pid)] = f"pid {pid} ({name}) in the node's cgroup"
        elif held and _mounts_of(pid, marker):
            found[int(pid)] = f"pid {pid} ({name}) in the node's {held[0]} namespace"
    return found


def _links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [name for name in names if name.startswith(prefix)]


def _iptables(needles: list[str]) -> list[str]:
    rules = []
    for tool in ("iptables-save", "ip6tables-save"):
        proc = subprocess.run([tool], capture_output=True, text=True)
        rules += [r for r in proc.stdout.splitlines() if any(n in r for n in needles)]
    return rules


def _mounts(marker: str) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines if marker in line]


def namespaces_held(inodes: set[int], marker: str) -> list[str]:
    """The node's namespaces that still exist: held by a process of this cluster (see
    ``pids_in``: inode numbers are reused), or pinned by an nsfs bind mount under its state
    directory in the host's mount table."""
    held = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for ns in NAMESPACES:
            try:
                inode = os.stat(f"/proc/{pid}/ns/{ns}").st_ino
            except OSError:
                continue  # exited meanwhile
            if inode in inodes and _mounts_of(pid, marker):
                held.add(f"{ns}:[{inode}] (held by pid {pid})")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        root = fields[3]  # an nsfs mount's root is the namespace, e.g. net:[4026532801]
        pinned = any(root.endswith(f":[{inode}]") for inode in inodes)
        if pinned and marker in fields[4]:
            held.add(f"{root} (pinned at {fields[4]})")
    return sorted(held)


def find(records: list[dict], bridge: str, state_dir: Path, subnet: str) -> dict[str, list[str]]:
    """Leftovers by kind. ``records``: each node's ``node.json`` as written at start."""
    inodes = {i for r in records for i in (r.get("namespaces") or {}).values()}
    roots = [r["cgroup_root"] for r in records]
    marker = cluster_marker(state_dir)
    processes = list(pids_in(inodes, roots, marker).values())
    return {
        PROCESSES: [p for p in processes if SHIM not in p],
        "containerd shims": [p for p in processes if SHIM in p],
        "namespaces": namespaces_held(inodes, marker),
        "mounts": _mounts(str(state_dir)),
        "cgroups": [str(p) for r in records for p in cgroups.leftovers(r["cgroup_root"])],
        "iptables rules": _iptables([bridge, subnet.rsplit(".", 1)[0] + "."]),
        "veths and bridge": _links(bridge),
    }


def load_records(state_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(state_dir.glob("nodes/*/node.json"))]
