"""What a run may leave on a host, listed before and after it, so the two can be compared.

    python -m gpuconform.gpuhost.hoststate snapshot FILE [BEFORE]
    python -m gpuconform.gpuhost.hoststate tidy BEFORE    # remove mount points the nodes made

Listed: mounts, network links, cgroups under the root, processes of the cluster's components,
and whether each fixed path a real node mounts over exists. ``tidy`` removes those paths that
did not exist before and are empty (a node's init creates them as mount points).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gpuconform.sim.realnode.init import NODE_MOUNTS

COMPONENTS = {
    "containerd",
    "containerd-shim",
    "kubelet",
    "kube-proxy",
    "etcd",
    "kube-apiserver",
    "kube-controller",
    "kube-scheduler",
    "kwok",
    "nvidia-device-",
    "unshare",
    "runc",
}  # fmt: skip  (process names as /proc/<pid>/comm holds them: 15 characters at most)


def processes() -> list[str]:
    names = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:
            continue
        if any(name.startswith(c) for c in COMPONENTS):
            names.append(f"process {name}")
    return sorted(names)


def wait_for_exits(before: list[str], timeout_s: float = 15) -> None:
    """Until no component process runs that did not run before (stopped ones take a moment to
    exit; /proc has no event to wait on), or ``timeout_s``: what is left is then reported."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and set(processes()) - set(before):
        time.sleep(0.2)


def snapshot() -> list[str]:
    lines = [
        f"mount {line.split()[1]}" for line in Path("/proc/self/mounts").read_text().splitlines()
    ]
    lines += [f"link {p.name}" for p in Path("/sys/class/net").iterdir()]
    cgroup = Path("/sys/fs/cgroup")
    lines += [f"cgroup {p.relative_to(cgroup)}" for p in cgroup.glob("*/") if p.is_dir()]
    lines += [f"path {target}" for target in NODE_MOUNTS if Path(target).exists()]
    return sorted(lines) + processes()


def tidy(before: list[str]) -> list[str]:
    removed = []
    for target in NODE_MOUNTS:
        path = Path(target)
        if f"path {target}" not in before and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            removed.append(target)
    return removed


def main(argv: list[str]) -> int:
    action, file = argv[0], Path(argv[1])
    if action == "snapshot":
        if len(argv) > 2:  # snapshot AFTER BEFORE: let stopped components exit first
            wait_for_exits(Path(argv[2]).read_text().splitlines())
        file.write_text("\n".join(snapshot()) + "\n")
    elif action == "tidy":
        for target in tidy(file.read_text().splitlines()):
            print(f"removed the empty mount point {target}")
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
