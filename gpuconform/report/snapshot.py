"""Read what the node matrix needs from the API: a bounded number of list calls, once.

Taken when the checks are done but before the plugin is uninstalled (the uninstall step or
the session's teardown removes its pods): nodes, the device-plugin DaemonSets and their
namespaces' pods, and the run's GPU test pods. No per-node calls, no polling.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from gpuconform import dra
from gpuconform.readiness import is_plugin_daemonset
from gpuconform.report.node_matrix import DraView, Snapshot
from gpuconform.run import RunContext
from gpuconform.wait import api_retry

WORKLOAD_APP = "app.kubernetes.io/name=gpuconform-workload"  # gpuconform/manifests/gpu-pod.yaml


def take_snapshot(ctx: RunContext, dra_path: bool = False) -> Snapshot:
    """Nodes, plugin DaemonSets and pods, GPU test pods: 3 to 4 list calls in all; on the DRA
    path also the ResourceSlices and the DRA driver's pods (2 more)."""
    started = time.monotonic()
    core, apps = ctx.kube.core, ctx.kube.apps
    calls = 0

    def listed(fn: Any, *args: Any, **kwargs: Any) -> list[Any]:
        nonlocal calls
        calls += 1
        return api_retry(fn)(*args, **kwargs).items

    nodes = listed(core.list_node)
    # The pools' nodes, as the session gate found them (gpuconform/fleet.py).
    expected = set(ctx.fleet.names)
    if ctx.profile.mode == "install" and not ctx.profile.chart.manifest:
        daemonsets = listed(apps.list_namespaced_daemon_set, ctx.profile.namespace)
    else:  # existing mode, or a static manifest's own namespaces (kube-system upstream)
        daemonsets = listed(apps.list_daemon_set_for_all_namespaces)
    daemonsets = [ds for ds in daemonsets if is_plugin_daemonset(ds)]
    plugin_pods: list[Any] = []
    for namespace in sorted({ds.metadata.namespace for ds in daemonsets}):
        plugin_pods += listed(core.list_namespaced_pod, namespace)
    workload_pods = listed(
        core.list_namespaced_pod,
        ctx.identity.workload_namespace,
        label_selector=f"{ctx.identity.selector},{WORKLOAD_APP}",
    )
    view = None
    if dra_path:
        slices = dra.as_dicts(
            resource := client.ResourceV1Api(core.api_client),
            listed(resource.list_resource_slice),
        )
        kubelet_plugin = dra.settings()["kubelet_plugin_daemonset"]
        view = DraView(
            gpus={node: len(pool.devices) for node, pool in dra.pools(slices).items()},
            plugin_pods=[
                p
                for p in listed(core.list_namespaced_pod, ctx.profile.dra.namespace)
                if any(
                    o.kind == "DaemonSet" and o.name == kubelet_plugin
                    for o in p.metadata.owner_references or []
                )
            ],
        )
    return Snapshot(
        nodes=nodes,
        expected=expected,
        daemonsets=daemonsets,
        plugin_pods=plugin_pods,
        workload_pods=workload_pods,
        api_calls=calls,
        seconds=round(time.monotonic() - started, 3),
        dra=view,
    )
