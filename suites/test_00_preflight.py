"""Step 1 - preflight: the cluster is reachable and supported, GPU nodes exist.

What must hold before anything is created (the cluster answers, every permission the run
needs, a usable chart, a device plugin present or absent as the mode requires) is enforced
in one place, the session gate (gpuconform_pytest/session.py): it stops the run with one
line and exit code 4, and records what it checked in the report header.
"""

from __future__ import annotations

import pytest

from gpuconform.conditions import is_ready

# An existing plugin's state, and the GPU nodes as kubelet and the driver see them.
pytestmark = pytest.mark.step(
    "preflight",
    needs=[],
    evidence=["plugin", "nodes", "node-probe"],
)

OLDEST_SUPPORTED = (1, 25)


def test_api_server_is_reachable_and_supported(run):
    major, minor = run.server_version.lstrip("v").split(".")[:2]
    version = (int(major), int("".join(ch for ch in minor if ch.isdigit())))
    assert version >= OLDEST_SUPPORTED, (
        f"Kubernetes {run.server_version} is older than the oldest supported "
        f"{OLDEST_SUPPORTED[0]}.{OLDEST_SUPPORTED[1]}"
    )


def test_gpu_nodes_are_found_and_ready(run, pool):
    names = pool.names
    assert pool.nodes, (
        f"no node matches the GPU node selector {pool.pool.selector!r}{pool.where}; "
        "fix gpu_nodes.selector in the profile"
    )
    assert len(pool.nodes) == pool.expected_count, (
        f"expected {pool.expected_count} GPU nodes{pool.where}, found {len(names)}: "
        f"{', '.join(names)}"
    )
    not_ready = [n.metadata.name for n in pool.nodes if not is_ready(n)]
    assert not not_ready, f"GPU node(s) not Ready{pool.where}: {', '.join(not_ready)}"
    every = run.fleet.names
    run.facts.gpu_nodes = f"{len(every)}: {', '.join(every)}"
