"""What the report's tests build on: a run's check records and facts, the API objects a
node matrix is read from, and saved runs for the trend (pure data, no cluster)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubernetes import client

from gpuconform.facts import RunFacts
from gpuconform.fleet import Expectation
from gpuconform.report.node_matrix import Snapshot

FACTS = RunFacts(
    cluster="sim (simulated)",
    server_version="v1.34.4",
    chart_installed="nvidia-device-plugin-0.20.0",
    gpuconform="0.1.0",
)


def check(name: str, step: str | None, outcome: str = "passed", duration: float = 1.0, **extra):
    return {"name": name, "step": step, "outcome": outcome, "duration_s": duration, **extra}


NOW = datetime(2026, 11, 30, tzinfo=UTC)


GPU_LABELS = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H200"}


def node(
    name: str, labels: dict[str, str], gpus: int = 0, ready: bool = True, unhealthy: int = 0
) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        status=client.V1NodeStatus(
            # kubelet: capacity counts every device the plugin lists, allocatable the healthy.
            capacity={"nvidia.com/gpu": str(gpus + unhealthy)} if gpus + unhealthy else {},
            allocatable={"nvidia.com/gpu": str(gpus)} if gpus else {},
            conditions=[client.V1NodeCondition(type="Ready", status=str(ready))],
        ),
    )


def plugin_ds(uid: str = "ds-uid") -> client.V1DaemonSet:
    container = client.V1Container(name="nvidia-device-plugin-ctr", image="nvcr.io/x:v1")
    return client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="nvdp", namespace="nvdp", uid=uid),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": "nvdp"}),
            template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[container])),
        ),
    )


def pod(
    name: str,
    node_name: str,
    owner_uid: str | None = None,
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    waiting: str | None = None,
    gpus: int = 0,
    annotations: dict[str, str] | None = None,
    age_s: int = 60,
) -> client.V1Pod:
    owners = [
        client.V1OwnerReference(
            api_version="apps/v1", kind="DaemonSet", name="nvdp", uid=owner_uid, controller=True
        )
        for _ in [owner_uid]
        if owner_uid
    ]
    state = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason=waiting) if waiting else None
    )
    limits = {"nvidia.com/gpu": str(gpus)} if gpus else {}
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            labels={"app": "nvdp"},  # the same labels as the plugin's: ownership decides
            annotations=annotations,
            owner_references=owners or None,
            creation_timestamp=NOW - timedelta(seconds=age_s),
        ),
        spec=client.V1PodSpec(
            node_name=node_name,
            containers=[
                client.V1Container(
                    name="c", image="i", resources=client.V1ResourceRequirements(limits=limits)
                )
            ],
        ),
        status=client.V1PodStatus(
            phase=phase,
            conditions=[client.V1PodCondition(type="Ready", status=str(ready))],
            container_statuses=[
                client.V1ContainerStatus(
                    name="c",
                    ready=ready,
                    restart_count=restarts,
                    image="i",
                    image_id="",
                    state=state,
                )
            ],
        ),
    )


def matrix_snapshot() -> Snapshot:
    nodes = [
        node("gpu-b", GPU_LABELS, gpus=0),
        node("gpu-a", GPU_LABELS, gpus=8),
        node("cpu-0", {"kubernetes.io/os": "linux"}),
        node("gpu-outside", {"feature.node.kubernetes.io/pci-10de.present": "true"}, gpus=4),
    ]
    return Snapshot(
        nodes=nodes,
        expected={"gpu-a", "gpu-b"},
        daemonsets=[plugin_ds()],
        plugin_pods=[
            pod("nvdp-a", "gpu-a", "ds-uid"),
            pod("nvdp-b", "gpu-b", "ds-uid", ready=False, restarts=6, waiting="CrashLoopBackOff"),
            # Same labels, same node, another controller (e.g. an MPS or GFD DaemonSet):
            pod("mps-a", "gpu-a", "other-uid", age_s=1),
        ],
        workload_pods=[
            pod("gpu-workload", "gpu-a", phase="Succeeded", gpus=1),
            pod(
                "gpu-over-request",
                "gpu-b",
                phase="Pending",
                gpus=99,
                annotations={"gpuconform.io/expected-failure": "true"},
            ),
            pod("no-gpu-request", "gpu-a", phase="Failed"),
        ],
    )


def expecting(resources: dict[str, int] | None, pools=("gpu-nodes", "gpu-nodes")) -> dict:
    """gpu-a's and gpu-b's expectations: these resources, from the profile."""
    resource = next(iter(resources or {"nvidia.com/gpu": 0}))
    return {
        node: Expectation(pool, resource, None, "profile", resources)
        for node, pool in zip(("gpu-a", "gpu-b"), pools, strict=True)
    }


def write_run(reports: Path, profile: str, stamp: str, failed: list[str], **extra) -> Path:
    folder = reports / f"{profile}-{stamp}"
    folder.mkdir(parents=True)
    tests = [
        check(
            name,
            "readiness" if name == "test_ready" else "preflight",
            "failed" if name in failed else "passed",
            2.0,
        )
        for name in ("test_nodes", "test_ready")
    ]
    summary = {
        "profile": profile,
        "run_id": stamp,
        "started": stamp,
        "finished": f"{stamp}-done",
        "exit_status": 1 if failed else 0,
        "tests": tests,
        **extra,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder
