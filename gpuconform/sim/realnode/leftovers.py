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


def namespace_inodes(pid: int) -> dict[str, int]:
    return {ns: os.stat(f"/proc/{pid}/ns/{ns}").st_ino for ns in NAMESPACES}


def pids_in(inodes: set[int], cgroup_roots: list[str]) -> dict[int, str]:
    """The node's processes: pid -> what it is. Those in its namespaces (init, containerd,
    kubelet, kube-proxy, shims) and those in its cgroups (containers, which have namespaces
    of their own)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            held = [ns for ns in NAMESPACES if os.stat(f"/proc/{pid}/ns/{ns}").st_ino in inodes]
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # exited meanwhile
        if held:
            found[int(pid)] = f"pid {pid} ({name}) in the node's {held[0]} namespace"
        elif any(f":{root}/" in cgroup or cgroup.endswith(f":{root}") for root in cgroup_roots):
            found[int(pid)] = f"pid {pid} ({name}) in the node's cgroup"
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


def find(records: list[dict], bridge: str, state_dir: Path, subnet: str) -> dict[str, list[str]]:
    """Leftovers by kind. ``records``: each node's ``node.json`` as written at start."""
    inodes = {i for r in records for i in (r.get("namespaces") or {}).values()}
    roots = [r["cgroup_root"] for r in records]
    return {
        "processes and namespaces (containerd, shims, kubelet, containers)": list(
            pids_in(inodes, roots).values()
        ),
        "mounts": _mounts(str(state_dir)),
        "cgroups": [str(p) for r in records for p in cgroups.leftovers(r["cgroup_root"])],
        "iptables rules": _iptables([bridge, subnet.rsplit(".", 1)[0] + "."]),
        "veths and bridge": _links(bridge),
    }


def load_records(state_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(state_dir.glob("nodes/*/node.json"))]
