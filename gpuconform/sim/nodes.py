"""Node profiles of the SIMULATED cluster: which KWOK nodes exist, which GPUs they pretend to have.

A profile is YAML (see node_profiles/). Everything the sim agent and the simulated GPU tools
need to know about a node travels on the Node object itself, as `sim.gpuconform.io/*`
annotations, so the agent needs no copy of the profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from gpuconform.conditions import GPU_RESOURCE as GPU_RESOURCE  # re-exported: sim.agent
from gpuconform.sim.faults import load_faults

PROFILES_DIR = Path(__file__).with_name("node_profiles")
SIM = "sim.gpuconform.io/"
ANNOTATION_GPUS = SIM + "gpus"
ANNOTATION_FAULT = SIM + "fault"
ANNOTATION_GPU_NAME = SIM + "gpu-name"
ANNOTATION_GPU_MEMORY = SIM + "gpu-memory-mib"
ANNOTATION_DRIVER = SIM + "driver-version"
ANNOTATION_CUDA = SIM + "cuda-version"
# The labels GPU Feature Discovery / NFD put on a real NVIDIA node; the real chart's node
# affinity selects on the first three.
GPU_NODE_LABELS = {
    "feature.node.kubernetes.io/pci-10de.present": "true",
    "nvidia.com/gpu.present": "true",
    "feature.node.kubernetes.io/cpu-model.vendor_id": "Intel",
}


class NodeProfileError(ValueError):
    """The node profile is invalid; the message names the field."""


@dataclass(frozen=True)
class GpuModel:
    product: str  # the nvidia.com/gpu.product label value
    name: str  # what nvidia-smi prints; picks the mock NVML profile (sim/nvml.py model_key)
    memory_mib: int
    driver_version: str
    cuda_version: str
    family: str = "hopper"  # the nvidia.com/gpu.family label value


@dataclass(frozen=True)
class SimNode:
    name: str
    gpus: int
    gpu: GpuModel | None
    fault: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    # "kwok": a KWOK node (kubelet and runtime SIMULATED; for scale). "real": a real node
    # (kubelet, containerd, runc in its own namespaces; only the GPUs simulated).
    runtime: str = "kwok"
    # Real nodes: nvidia-container-runtime's accept-nvidia-visible-devices-envvar-when-
    # unprivileged (the toolkit's default, true: an image's NVIDIA_VISIBLE_DEVICES=all gives an
    # unprivileged pod every GPU; false: only the device plugin's volume mounts or CDI do).
    accept_envvar_unprivileged: bool = True
    # Real nodes: "mock" (SIMULATED GPUs: mock NVML, device nodes) or "host" (the host's real
    # NVIDIA driver, gpuconform/gpuhost/host_driver.py).
    driver: str = "mock"
    # Real nodes: containerd's default runtime, "nvidia" (nvidia-container-runtime, cdi mode)
    # or "runc" (a node whose runtime was never configured for GPUs).
    default_runtime: str = "nvidia"

    @property
    def is_real(self) -> bool:
        return self.runtime == "real"

    @property
    def is_gpu_node(self) -> bool:
        return self.gpus > 0


RUNTIMES = ("kwok", "real")
DRIVERS = ("mock", "host")
DEFAULT_RUNTIMES = ("nvidia", "runc")


def _require(mapping: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in mapping:
        raise NodeProfileError(f"{where}: missing field {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise NodeProfileError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def parse_node_profile(data: Any, source: str = "node profile") -> list[SimNode]:
    """Validate a node profile document and expand its node groups into nodes."""
    if not isinstance(data, dict):
        raise NodeProfileError(f"{source}: expected a mapping with `gpu` and `node_groups`")
    gpu_spec = _require(data, "gpu", dict, source)
    gpu = _gpu_model(gpu_spec, f"{source}: gpu")
    groups = _require(data, "node_groups", list, source)
    if not groups:
        raise NodeProfileError(f"{source}: node_groups is empty")
    faults = load_faults()
    nodes: list[SimNode] = []
    for index, group in enumerate(groups):
        nodes += _group_nodes(group, f"{source}: node_groups[{index}]", gpu_spec, gpu, faults)
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise NodeProfileError(f"{source}: node group names produce duplicate node names")
    return nodes


def _group_nodes(
    group: Any, where: str, gpu_spec: dict[str, Any], gpu: GpuModel, faults: Any
) -> list[SimNode]:
    """One node group, checked, as its `count` nodes (`name-0`, `name-1`, ...)."""
    if not isinstance(group, dict):
        raise NodeProfileError(f"{where}: expected a mapping")
    name = _require(group, "name", str, where)
    count = _require(group, "count", int, where)
    gpus = _require(group, "gpus", int, where)
    if count < 1 or gpus < 0:
        raise NodeProfileError(f"{where}: count must be >= 1 and gpus >= 0")
    fault = group.get("fault")
    if fault is not None and fault not in faults:
        raise NodeProfileError(
            f"{where}: unknown fault {fault!r}; known faults: {', '.join(sorted(faults))}"
        )
    runtime = group.get("runtime", "kwok")
    if runtime not in RUNTIMES:
        raise NodeProfileError(f"{where}: runtime must be one of {', '.join(RUNTIMES)}")
    accept_envvar = group.get("accept_envvar_unprivileged", True)
    if not isinstance(accept_envvar, bool):
        raise NodeProfileError(f"{where}: accept_envvar_unprivileged must be true or false")
    driver = group.get("driver", "mock")
    if driver not in DRIVERS or (driver == "host" and runtime != "real"):
        raise NodeProfileError(f"{where}: driver must be mock, or host on a real node")
    default_runtime = group.get("default_runtime", "nvidia")
    if default_runtime not in DEFAULT_RUNTIMES:
        raise NodeProfileError(
            f"{where}: default_runtime must be one of {', '.join(DEFAULT_RUNTIMES)}"
        )
    # A group may name its own GPU model (a mixed fleet): its `gpu` fields over the
    # profile's, so the node's mock NVML follows that model (sim/nvml.py).
    group_gpu = group.get("gpu")
    if group_gpu is not None and not isinstance(group_gpu, dict):
        raise NodeProfileError(f"{where}: gpu must be a mapping of GPU fields")
    model = _gpu_model(gpu_spec | group_gpu, f"{where}: gpu") if group_gpu else gpu
    labels = group.get("labels") or {}
    taints = group.get("taints") or []
    if not isinstance(labels, dict) or not isinstance(taints, list):
        raise NodeProfileError(f"{where}: labels must be a mapping and taints a list")
    for taint in taints:
        if not isinstance(taint, dict) or "key" not in taint or "effect" not in taint:
            raise NodeProfileError(f"{where}: each taint needs `key` and `effect`")
    return [
        SimNode(
            name=f"{name}-{n}",
            gpus=gpus,
            gpu=model if gpus else None,
            fault=fault,
            labels={str(k): str(v) for k, v in labels.items()},
            taints=taints,
            runtime=runtime,
            accept_envvar_unprivileged=accept_envvar,
            driver=driver,
            default_runtime=default_runtime,
        )
        for n in range(count)
    ]


def _gpu_model(spec: dict[str, Any], where: str) -> GpuModel:
    unknown = set(spec) - {f.name for f in fields(GpuModel)}
    if unknown:
        raise NodeProfileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return GpuModel(
        product=_require(spec, "product", str, where),
        name=_require(spec, "name", str, where),
        memory_mib=_require(spec, "memory_mib", int, where),
        driver_version=str(_require(spec, "driver_version", str, where)),
        cuda_version=str(_require(spec, "cuda_version", str, where)),
        family=str(spec.get("family") or "hopper"),
    )


def known_node_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_node_profile(name_or_path: str) -> list[SimNode]:
    """Load a node profile by name (node_profiles/NAME.yaml) or by path."""
    path = Path(name_or_path)
    if not path.exists():
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise NodeProfileError(
            f"unknown node profile {name_or_path!r}; known: {', '.join(known_node_profiles())}"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise NodeProfileError(f"{path}: not valid YAML: {err}") from None
    return parse_node_profile(data, str(path))


def gpu_labels(node: SimNode) -> dict[str, str]:
    """The labels NFD and GFD would give a GPU node (SIMULATED: no NFD runs by default); none
    for a CPU node or under a fault that drops them (``unlabeled``)."""
    if not node.gpu or not load_faults().get(node.fault or "", {}).get("labels", True):
        return {}
    return GPU_NODE_LABELS | {
        "nvidia.com/gpu.product": node.gpu.product,
        "nvidia.com/gpu.count": str(node.gpus),
        "nvidia.com/gpu.memory": str(node.gpu.memory_mib),
        "nvidia.com/gpu.family": node.gpu.family,
        "nvidia.com/cuda.driver-version.full": node.gpu.driver_version,
    }


def node_manifest(node: SimNode, kube_version: str) -> dict[str, Any]:
    """The Node object for a simulated node, status included (KWOK keeps what we give it)."""
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "gpuconform.io/simulated": "true",
    }
    annotations = {
        "node.alpha.kubernetes.io/ttl": "0",
        "kwok.x-k8s.io/node": "fake",
        ANNOTATION_GPUS: str(node.gpus),
    }
    labels |= gpu_labels(node)
    if node.gpu:
        annotations |= {
            ANNOTATION_GPU_NAME: node.gpu.name,
            ANNOTATION_GPU_MEMORY: str(node.gpu.memory_mib),
            ANNOTATION_DRIVER: node.gpu.driver_version,
            ANNOTATION_CUDA: node.gpu.cuda_version,
        }
    if node.fault:
        annotations[ANNOTATION_FAULT] = node.fault
    labels |= node.labels
    machine_id = hashlib.md5(node.name.encode()).hexdigest()
    resources = {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels, "annotations": annotations},
        "spec": {"taints": node.taints},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "machineID": machine_id,
                "systemUUID": machine_id,
                "bootID": machine_id,
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": kube_version,
                "kubeProxyVersion": kube_version,
                "containerRuntimeVersion": "containerd://2.1.4 (simulated)",
                "osImage": "Ubuntu 24.04.3 LTS (simulated)",
                "kernelVersion": "6.8.0-86-generic",
            },
        },
    }
