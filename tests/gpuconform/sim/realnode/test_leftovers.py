"""Which processes count as a real node's: a recorded namespace inode alone is not enough,
since the kernel reuses the number once the namespace is gone (no node started here)."""

from __future__ import annotations

import os
from pathlib import Path

from gpuconform.sim.realnode import leftovers


def _own_namespaces() -> set[int]:
    return set(leftovers.namespace_inodes(os.getpid()).values())


def test_a_process_in_a_recorded_namespace_without_the_clusters_mounts_is_not_the_nodes():
    # This process shares the recorded inodes, as another cluster's process would once the
    # number is reused, but its mount table shows no node directory of the cluster.
    marker = leftovers.cluster_marker(Path("/no/such/gpuconform-cluster-x"))
    assert os.getpid() not in leftovers.pids_in(_own_namespaces(), [], marker)
    assert leftovers.namespaces_held(_own_namespaces(), marker) == []


def test_a_process_whose_mount_table_shows_the_marker_is_the_nodes():
    # Any text of this process's own mount table stands in for the node directories.
    mount_point = Path("/proc/self/mountinfo").read_text().split()[4]
    pids = leftovers.pids_in(_own_namespaces(), [], mount_point)
    assert "namespace" in pids[os.getpid()]
    held = leftovers.namespaces_held(_own_namespaces(), mount_point)
    assert any(f"(held by pid {os.getpid()})" in line for line in held)
