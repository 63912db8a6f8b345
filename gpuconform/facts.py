"""What a run established, typed: the gate's facts about the cluster and what each step found.

Steps set fields by name (`run.facts.chart_installed = ...`); the report and the verdict read
fields, never strings a step wrote. `rows()` is the report's "Run" table and summary.json's
`facts`, labelled as before, in run order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunFacts:
    # The session gate, before anything is created.
    cluster: str = ""
    api_server: str = ""
    server_version: str = ""
    chart: str = ""
    mode: str = ""
    permissions_checked: int = 0
    plugin_under_test: str = ""
    upgrade_from: str = ""
    canary_nodes: str = ""
    gpu_pools: str = ""
    device_plugin: str = ""
    real_nodes: dict[str, str] = field(default_factory=dict)  # node -> its binaries' versions
    cluster_dns: str = ""  # the real nodes' CoreDNS, as its binary reports it
    host_gpus: dict[str, str] = field(default_factory=dict)  # "GPU i of node" -> nvidia-smi's line
    run_id: str = ""
    gpuconform: str = ""
    gpu_allocation: str = ""  # "dra (why)" or "device-plugin (why)"
    # The steps, as they pass.
    gpu_nodes: str = ""
    chart_installed: str = ""
    gpus_advertised: int | None = None  # summed over the pools
    gpu_pods: dict[str, str] = field(default_factory=dict)  # pool suffix -> what the pod saw
    gpu_sharing: dict[str, str] = field(default_factory=dict)  # pool suffix -> pods at once
    upgraded: str = ""
    dra_chart: str = ""  # the DRA driver chart installed (allocation dra)
    dra_pools: str = ""  # the ResourceSlice pools found ready

    def rows(self) -> dict[str, Any]:
        """Label -> value of every fact that is set, in run order (the report's Run table)."""
        rows: dict[str, Any] = {
            "cluster": self.cluster,
            "API server": self.api_server,
            "server version": self.server_version,
            "chart": self.chart,
            "mode": self.mode,
            "permissions checked": self.permissions_checked,
            "plugin under test": self.plugin_under_test,
            "upgrade from": self.upgrade_from,
            "canary nodes": self.canary_nodes,
            "GPU pools": self.gpu_pools,
            "device plugin": self.device_plugin,
            **{f"real node {node}": versions for node, versions in self.real_nodes.items()},
            "cluster DNS": self.cluster_dns,
            **self.host_gpus,
            "run id": self.run_id,
            "gpuconform": self.gpuconform,
            "GPU allocation": self.gpu_allocation,
            "GPU nodes": self.gpu_nodes,
            "chart installed": self.chart_installed,
            "GPUs advertised": self.gpus_advertised,
            **{f"GPU pod{where}": seen for where, seen in self.gpu_pods.items()},
            **{f"GPU sharing{where}": text for where, text in self.gpu_sharing.items()},
            "upgraded": self.upgraded,
            "DRA driver chart": self.dra_chart,
            "DRA ResourceSlice pools": self.dra_pools,
        }
        return {k: v for k, v in rows.items() if v not in ("", None)}
