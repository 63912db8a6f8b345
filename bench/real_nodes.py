"""Real nodes (issue 17): how long a cluster of them takes to start and stop, and what one
costs in memory (the sum over the processes of its namespaces and cgroups)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from gpuconform.sim.cluster import SimCluster
from gpuconform.sim.realnode import leftovers

PROFILE = "real"  # 2 real GPU nodes (gpuconform/sim/node_profiles/real.yaml)


@dataclass
class RealNodeCost:
    up_s: float
    down_s: float
    rss_mib: list[float]  # per node, idle (no pod)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a kernel thread or a zombie


def node_rss_mib(record: dict, state_dir: Path) -> float:
    marker = leftovers.cluster_marker(state_dir)
    pids = leftovers.pids_in(set(record["namespaces"].values()), [record["cgroup_root"]], marker)
    total = 0
    for pid in pids:
        try:
            total += _rss_kib(pid)
        except OSError:
            continue  # exited meanwhile
    return total / 1024


def bench_real_nodes() -> RealNodeCost:
    cluster = SimCluster(f"gpuconform-bench-real-{os.getpid()}", log=lambda line: None)
    started = time.monotonic()
    try:
        cluster.up(PROFILE)
        up_s = time.monotonic() - started
        state = cluster.paths.state_dir
        rss = [node_rss_mib(r, state) for r in leftovers.load_records(state)]
    finally:
        stopping = time.monotonic()
        cluster.down(quiet=True)
        down_s = time.monotonic() - stopping
    return RealNodeCost(up_s, down_s, rss)
