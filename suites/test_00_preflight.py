"""Step 1 - preflight: the cluster is reachable, the run may do its work, GPU nodes exist."""

from __future__ import annotations

import pytest

from gpuconform.permissions import missing_permissions, required_permissions
from gpuconform.release import find_plugin_daemonsets

pytestmark = pytest.mark.step("preflight")

OLDEST_SUPPORTED = (1, 25)


def test_api_server_is_reachable_and_supported(run):
    major, minor = run.server_version.lstrip("v").split(".")[:2]
    version = (int(major), int("".join(ch for ch in minor if ch.isdigit())))
    assert version >= OLDEST_SUPPORTED, (
        f"Kubernetes {run.server_version} is older than the oldest supported "
        f"{OLDEST_SUPPORTED[0]}.{OLDEST_SUPPORTED[1]}"
    )


def test_run_has_the_permissions_it_needs(run):
    missing = missing_permissions(run.kube, run.profile)
    assert not missing, f"missing permission(s): {', '.join(missing)}"
    run.facts["permissions checked"] = len(required_permissions(run.profile.mode))


def test_gpu_nodes_are_found_and_ready(run, gpu_nodes, expected_gpu_node_count):
    names = [n.metadata.name for n in gpu_nodes]
    assert gpu_nodes, (
        f"no node matches the GPU node selector {run.profile.gpu_selector!r}; "
        "fix gpu_nodes.selector in the profile"
    )
    assert len(gpu_nodes) == expected_gpu_node_count, (
        f"expected {expected_gpu_node_count} GPU nodes, found {len(gpu_nodes)}: {', '.join(names)}"
    )
    not_ready = [
        n.metadata.name
        for n in gpu_nodes
        if not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    ]
    assert not not_ready, f"GPU node(s) not Ready: {', '.join(not_ready)}"
    run.facts["GPU nodes"] = f"{len(names)}: {', '.join(names)}"


def test_existing_device_plugin_matches_the_mode(run):
    existing = find_plugin_daemonsets(run)
    names = [f"{d.metadata.namespace}/{d.metadata.name}" for d in existing]
    if run.profile.mode == "existing":
        assert existing, "mode is `existing` but no device-plugin DaemonSet runs on the cluster"
        run.facts["plugin under test"] = ", ".join(names)
    elif not run.profile.allow_existing:
        assert not existing, f"a device plugin already runs: {', '.join(names)}"
