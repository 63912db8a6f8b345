"""The sim agent: the kubelet-side behaviour that KWOK does not simulate, for SIMULATED GPU nodes.

One process per simulated cluster, driven by a single watch on pods:

* device manager - a node advertises `nvidia.com/gpu` only while a device-plugin pod on it
  is Ready, as kubelet's device manager does once the plugin registers; allocatable drops
  to 0 when the plugin goes away. Faults can suppress advertising.
* container runtime - before KWOK may start a pod (stage `sim-pod-start` waits for the
  `prepared` annotation) the agent assigns the pod's GPUs, wires `kubectl exec` and
  `kubectl logs` through KWOK's Exec and Logs objects (owned by the pod, so the garbage
  collector removes them), and, for run-to-completion pods, runs the container's command
  with the simulated GPU tools first on PATH to produce its output and exit code.
* faults - a device-plugin pod on a `broken-driver` node crash-loops with a growing
  restart count, BackOff events and the real-world NVML error in its logs.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from gpuconform.sim.faults import load_faults
from gpuconform.sim.nodes import (
    ANNOTATION_CUDA,
    ANNOTATION_DRIVER,
    ANNOTATION_FAULT,
    ANNOTATION_GPU_MEMORY,
    ANNOTATION_GPU_NAME,
    ANNOTATION_GPUS,
    GPU_RESOURCE,
    SIM,
)

log = logging.getLogger("gpuconform.sim.agent")

ANNOTATION_PREPARED = SIM + "prepared"
ANNOTATION_EXIT_CODE = SIM + "exit-code"
ANNOTATION_GPU_INDICES = SIM + "gpu-indices"
ANNOTATION_CRASH_LOOP = SIM + "crash-loop"
ANNOTATION_PULL_FAILED = SIM + "image-pull-failed"
REGISTRY_FILE = Path(__file__).with_name("registry.yaml")
KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"
OUTPUTS_FILE = Path(__file__).with_name("outputs.yaml")
# Labels that mark a device-plugin pod: the upstream chart's and the GPU Operator's.
DEVICE_PLUGIN_LABELS = [
    {"app.kubernetes.io/name": "nvidia-device-plugin"},
    {"app": "nvidia-device-plugin-daemonset"},
]
# Entry points the simulated runtime will run on the host; anything else gets no output.
SIMULATED_ENTRYPOINTS = {"sh", "bash", "nvidia-smi", "nvidia-container-cli"}
# Simulated kubelet restart back-off: kubelet's 10s..300s, compressed so tests stay quick.
BACKOFF_START_S, BACKOFF_MAX_S = 1.0, 8.0
COMMAND_TIMEOUT_S = 30
# Bound on KWOK picking up a new Logs object (normally well under a second).
LOGS_SERVED_TIMEOUT_S = 60


@cache
def canned_output(name: str) -> str:
    """Output of healthy simulated containers, from outputs.yaml."""
    return yaml.safe_load(OUTPUTS_FILE.read_text())[name]


@cache
def simulated_registry() -> dict[str, list[str]]:
    return yaml.safe_load(REGISTRY_FILE.read_text()) or {}


def missing_image(pod: client.V1Pod) -> str | None:
    """The first image of the pod the SIMULATED registry does not have, if any."""
    for container in pod.spec.containers:
        repository, _, tag = (container.image or "").rpartition(":")
        tags = simulated_registry().get(repository)
        if tags is not None and tag not in tags:
            return container.image
    return None


def is_device_plugin(pod: client.V1Pod) -> bool:
    labels = pod.metadata.labels or {}
    return any(all(labels.get(k) == v for k, v in sel.items()) for sel in DEVICE_PLUGIN_LABELS)


def gpu_request(pod: client.V1Pod) -> int:
    total = 0
    for container in pod.spec.containers:
        limits = (container.resources and container.resources.limits) or {}
        total += int(limits.get(GPU_RESOURCE, 0))
    return total


def is_ready(pod: client.V1Pod) -> bool:
    for cond in (pod.status and pod.status.conditions) or []:
        if cond.type == "Ready":
            return cond.status == "True"
    return False


def is_finished(pod: client.V1Pod) -> bool:
    return bool(pod.metadata.deletion_timestamp) or (pod.status and pod.status.phase) in (
        "Succeeded",
        "Failed",
    )


def cri_log(text: str, stream: str = "stdout") -> str:
    """Text in the CRI log format KWOK's logs endpoint reads (one record per line)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "".join(f"{stamp} {stream} F {line}\n" for line in text.splitlines())


@dataclass
class NodeState:
    name: str
    gpus: int
    annotations: dict[str, str]
    allocated: dict[str, list[int]] = field(default_factory=dict)  # pod uid -> GPU indices
    advertised: int | None = None  # allocatable we last published; None = never

    @property
    def fault(self) -> dict[str, Any]:
        return load_faults().get(self.annotations.get(ANNOTATION_FAULT, ""), {})

    def free_indices(self) -> list[int]:
        used = {i for indices in self.allocated.values() for i in indices}
        return [i for i in range(self.gpus) if i not in used]


@dataclass
class CrashLoop:
    namespace: str
    name: str
    node: str
    container: str
    restarts: int = 0


class SimAgent:
    def __init__(self, state_dir: Path, simbin: Path) -> None:
        self.state_dir = state_dir
        self.simbin = simbin
        api = client.ApiClient()
        api.user_agent = "gpuconform-sim-agent"  # the simulated kubelet, not the suite
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.nodes: dict[str, NodeState | None] = {}
        self.plugin_pods: dict[str, client.V1Pod] = {}  # uid -> pod
        self.crash_loops: dict[str, CrashLoop] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    # -- nodes -------------------------------------------------------------------------
    def node(self, name: str) -> NodeState | None:
        """The simulated node's state, or None for a node that is not a gpuconform sim node."""
        if name not in self.nodes:
            try:
                obj = self.core.read_node(name)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
            annotations = obj.metadata.annotations or {}
            self.nodes[name] = (
                NodeState(name, int(annotations[ANNOTATION_GPUS]), annotations)
                if ANNOTATION_GPUS in annotations
                else None
            )
        return self.nodes[name]

    def host_root(self, node: NodeState) -> Path:
        """A directory standing in for the node's root filesystem, as the node probe reads it."""
        root = self.state_dir / "hosts" / node.name
        if root.exists():
            return root
        broken = bool(node.fault.get("nvidia_smi_error"))
        (root / "dev").mkdir(parents=True)
        (root / "proc/driver/nvidia").mkdir(parents=True)
        (root / "etc/containerd").mkdir(parents=True)
        for i in range(node.gpus):
            (root / "dev" / f"nvidia{i}").touch()
        if node.gpus:
            for dev in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"):
                (root / "dev" / dev).touch()
            driver = node.annotations.get(ANNOTATION_DRIVER, "")
            (root / "proc/driver/nvidia/version").write_text(
                f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {driver}  Release Build"
                "  (dvs-builder@U22-I3-AE18-23-3)  (simulated)\nGCC version:  gcc version 12.3.0\n"
            )
        runtime = 'default_runtime_name = "nvidia"\n' if node.gpus and not broken else ""
        (root / "etc/containerd/config.toml").write_text(
            'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  ' + runtime
        )
        return root

    def advertise(self, node: NodeState) -> None:
        """Publish nvidia.com/gpu the way kubelet's device manager would (SIMULATED)."""
        plugin_ready = any(
            p.spec.node_name == node.name and is_ready(p) and not p.metadata.deletion_timestamp
            for p in self.plugin_pods.values()
        )
        if not node.gpus or not node.fault.get("advertise", True):
            return
        wanted = node.gpus if plugin_ready else (0 if node.advertised is not None else None)
        if wanted is None or wanted == node.advertised:
            return
        count = str(wanted)
        body = {
            "status": {
                "capacity": {GPU_RESOURCE: str(node.gpus)},
                "allocatable": {GPU_RESOURCE: count},
            }
        }
        self.core.patch_node_status(node.name, body)
        node.advertised = wanted
        log.info("node %s: allocatable %s=%s", node.name, GPU_RESOURCE, count)

    # -- pods --------------------------------------------------------------------------
    def handle(self, event_type: str, pod: client.V1Pod) -> None:
        node_name = pod.spec.node_name
        if not node_name:
            return
        node = self.node(node_name)
        if node is None:
            return
        uid = pod.metadata.uid
        gone = event_type == "DELETED" or is_finished(pod)
        if gone:
            node.allocated.pop(uid, None)
            with self.lock:
                self.crash_loops.pop(uid, None)
        if is_device_plugin(pod):
            if event_type == "DELETED":
                self.plugin_pods.pop(uid, None)
            else:
                self.plugin_pods[uid] = pod
            self.advertise(node)
        annotations = pod.metadata.annotations or {}
        if gone:
            return
        if ANNOTATION_PULL_FAILED in annotations:
            return
        if annotations.get(ANNOTATION_PREPARED) != "true":
            image = missing_image(pod)
            if image:
                self.fail_image_pull(pod, node, image)
                return
            self.prepare(pod, node)
        elif ANNOTATION_GPU_INDICES in annotations and uid not in node.allocated:
            # After an agent restart: recover allocations from the pods themselves.
            indices = annotations[ANNOTATION_GPU_INDICES]
            node.allocated[uid] = [int(i) for i in indices.split(",") if i]

    def visible_gpus(self, pod: client.V1Pod, node: NodeState) -> list[int]:
        """GPUs the container runtime exposes: all for plugins/privileged/`all`, else assigned."""
        if not node.gpus:
            return []
        wants_all = is_device_plugin(pod)
        for container in pod.spec.containers:
            sec = container.security_context
            if sec and sec.privileged:
                wants_all = True
            for env in container.env or []:
                if env.name == "NVIDIA_VISIBLE_DEVICES" and env.value == "all":
                    wants_all = True
        if wants_all:
            return list(range(node.gpus))
        return node.allocated.get(pod.metadata.uid, [])

    def tool_env(self, pod: client.V1Pod, node: NodeState, visible: list[int]) -> dict[str, str]:
        env = {
            "GPUCONFORM_SIM": "1",
            "GPUCONFORM_SIM_NODE": node.name,
            "GPUCONFORM_SIM_GPU_NAME": node.annotations.get(ANNOTATION_GPU_NAME, ""),
            "GPUCONFORM_SIM_GPU_MEMORY_MIB": node.annotations.get(ANNOTATION_GPU_MEMORY, "0"),
            "GPUCONFORM_SIM_DRIVER": node.annotations.get(ANNOTATION_DRIVER, ""),
            "GPUCONFORM_SIM_CUDA": node.annotations.get(ANNOTATION_CUDA, ""),
            "GPUCONFORM_SIM_VISIBLE": ",".join(str(i) for i in visible),
            "GPUCONFORM_SIM_FAULT": node.annotations.get(ANNOTATION_FAULT, ""),
            "PATH": f"{self.simbin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        # The pod's own literal env, with paths under a hostPath "/" mount mapped onto the
        # node's simulated root directory.
        host_mounts = self.host_root_mounts(pod)
        for container in pod.spec.containers[:1]:
            for var in container.env or []:
                if var.value is None:
                    continue
                value = var.value
                for mount in host_mounts:
                    if value == mount or value.startswith(mount.rstrip("/") + "/"):
                        value = str(self.host_root(node)) + value[len(mount.rstrip("/")) :]
                env.setdefault(var.name, value)
        return env

    @staticmethod
    def host_root_mounts(pod: client.V1Pod) -> list[str]:
        host_volumes = {
            v.name for v in pod.spec.volumes or [] if v.host_path and v.host_path.path == "/"
        }
        return [
            m.mount_path
            for c in pod.spec.containers
            for m in c.volume_mounts or []
            if m.name in host_volumes
        ]

    def simulate_command(
        self, container: client.V1Container, env: dict[str, str]
    ) -> tuple[str, int]:
        argv = list(container.command or []) + list(container.args or [])
        image = container.image or ""
        if not argv:
            if "vectoradd" in image.lower():
                return canned_output("vector_add"), 0
            return "", 0
        if os.path.basename(argv[0]) not in SIMULATED_ENTRYPOINTS:
            return f"(simulated runtime: {shlex.join(argv)} is not simulated; no output)\n", 0
        argv[0] = os.path.basename(argv[0])
        try:
            proc = subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                cwd=self.state_dir,
            )
        except subprocess.TimeoutExpired:
            return f"simulated command timed out after {COMMAND_TIMEOUT_S}s\n", 137
        except OSError as err:
            return f"{argv[0]}: {err.strerror}\n", 127
        return proc.stdout + proc.stderr, proc.returncode

    def prepare(self, pod: client.V1Pod, node: NodeState) -> None:
        meta = pod.metadata
        uid = meta.uid
        wanted = gpu_request(pod)
        if wanted and uid not in node.allocated:
            node.allocated[uid] = node.free_indices()[:wanted]
        visible = self.visible_gpus(pod, node)
        env = self.tool_env(pod, node, visible)
        owner = {"apiVersion": "v1", "kind": "Pod", "name": meta.name, "uid": uid}
        plugin = is_device_plugin(pod)
        crash = plugin and node.fault.get("plugin") == "crash-loop"
        run_to_completion = pod.spec.restart_policy in ("Never", "OnFailure")
        logs_dir = self.state_dir / "logs" / f"{meta.namespace}_{meta.name}_{uid}"
        logs_dir.mkdir(parents=True, exist_ok=True)
        log_entries = []
        exit_code = 0
        for container in pod.spec.containers:
            if plugin:
                output = node.fault.get("plugin_log") or canned_output("healthy_plugin_log")
            elif run_to_completion:
                output, code = self.simulate_command(container, env)
                exit_code = exit_code or code
            else:
                output = ""
            current = logs_dir / f"{container.name}.log"
            current.write_text(cri_log(output))
            entry = {"containers": [container.name], "logsFile": str(current)}
            if crash:
                entry["previousLogsFile"] = str(current)
            log_entries.append(entry)
        self.apply_kwok_object(
            "execs",
            meta.namespace,
            meta.name,
            owner,
            {
                "execs": [
                    {
                        "local": {
                            "workDir": str(self.state_dir),
                            "envs": [{"name": k, "value": v} for k, v in sorted(env.items())],
                        }
                    }
                ]
            },
        )
        self.apply_kwok_object("logs", meta.namespace, meta.name, owner, {"logs": log_entries})
        if not self.confirm_logs_served(pod):
            return
        annotations = {
            ANNOTATION_PREPARED: "true",
            ANNOTATION_GPU_INDICES: ",".join(str(i) for i in node.allocated.get(uid, [])),
        }
        if run_to_completion and not plugin:
            annotations[ANNOTATION_EXIT_CODE] = str(exit_code)
        if crash:
            annotations[ANNOTATION_CRASH_LOOP] = "true"
        try:
            self.core.patch_namespaced_pod(
                meta.name, meta.namespace, {"metadata": {"annotations": annotations}}
            )
        except ApiException as err:
            if err.status != 404:
                raise
            return
        if crash:
            with self.lock:
                self.crash_loops[uid] = CrashLoop(
                    meta.namespace, meta.name, node.name, pod.spec.containers[0].name
                )
        log.info(
            "prepared pod %s/%s on %s (gpus %s)", meta.namespace, meta.name, node.name, visible
        )

    def confirm_logs_served(self, pod: client.V1Pod) -> bool:
        """Wait until KWOK serves this pod's container log; False if the pod went away.

        KWOK answers `kubectl logs` from its own informer cache of Logs objects, which can lag
        behind the pod's status under load. A real container's log exists before its pod can
        report it terminated or restarted, so the pod may not start until KWOK has the log:
        reading it through the API server observes exactly that cache.
        """
        meta = pod.metadata
        container = pod.spec.containers[0].name

        def not_yet_served(error: BaseException) -> bool:
            return (
                isinstance(error, ApiException)
                and error.status == 400
                and "no logs found" in str(error.body or "")
            )

        read = retry(
            retry=retry_if_exception(not_yet_served),
            wait=wait_exponential(multiplier=0.05, max=1),
            stop=stop_after_delay(LOGS_SERVED_TIMEOUT_S),
            reraise=True,
        )(self.core.read_namespaced_pod_log)
        try:
            read(meta.name, meta.namespace, container=container, limit_bytes=1)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def apply_kwok_object(
        self, plural: str, namespace: str, name: str, owner: dict[str, str], spec: dict[str, Any]
    ) -> None:
        body = {
            "apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}",
            "kind": "Exec" if plural == "execs" else "Logs",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
            "spec": spec,
        }
        try:
            self.custom.create_namespaced_custom_object(
                KWOK_GROUP, KWOK_VERSION, namespace, plural, body
            )
        except ApiException as err:
            if err.status != 409:
                raise
            self.custom.replace_namespaced_custom_object(
                KWOK_GROUP,
                KWOK_VERSION,
                namespace,
                plural,
                name,
                body
                | {
                    "metadata": body["metadata"]
                    | {
                        "resourceVersion": self.custom.get_namespaced_custom_object(
                            KWOK_GROUP, KWOK_VERSION, namespace, plural, name
                        )["metadata"]["resourceVersion"]
                    }
                },
            )

    def fail_image_pull(self, pod: client.V1Pod, node: NodeState, image: str) -> None:
        """The simulated registry has no such image: ErrImagePull, then ImagePullBackOff."""
        meta = pod.metadata
        now = datetime.now(UTC).isoformat()
        container = next(c.name for c in pod.spec.containers if c.image == image)
        reason = (
            f'failed to pull and unpack image "{image}": failed to resolve reference '
            f'"{image}": {image}: not found'
        )
        self.core.patch_namespaced_pod(
            meta.name,
            meta.namespace,
            {"metadata": {"annotations": {ANNOTATION_PULL_FAILED: image}}},
        )
        status = {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": container,
                    "image": image,
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": f'Back-off pulling image "{image}": ErrImagePull: {reason}',
                        }
                    },
                }
            ],
        }
        self.core.patch_namespaced_pod_status(meta.name, meta.namespace, {"status": status})
        self.core.create_namespaced_event(
            meta.namespace,
            {
                "metadata": {"generateName": f"{meta.name}.", "namespace": meta.namespace},
                "involvedObject": {
                    "kind": "Pod",
                    "name": meta.name,
                    "namespace": meta.namespace,
                    "apiVersion": "v1",
                    "uid": meta.uid,
                },
                "reason": "Failed",
                "type": "Warning",
                "message": f'Failed to pull image "{image}": rpc error: code = NotFound '
                f"desc = {reason}",
                "source": {"component": "kubelet", "host": node.name},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            },
        )
        log.info(
            "pod %s/%s: image %s not in the simulated registry", meta.namespace, meta.name, image
        )

    # -- crash loops ---------------------------------------------------------------------
    def crash_once(self, loop: CrashLoop) -> None:
        """One simulated container restart: terminated with an error, then back-off."""
        loop.restarts += 1
        now = datetime.now(UTC).isoformat()
        backoff = min(BACKOFF_START_S * 2 ** (loop.restarts - 1), BACKOFF_MAX_S)
        message = (
            f"back-off {backoff:.0f}s restarting failed container={loop.container} "
            f"pod={loop.name}_{loop.namespace}"
        )
        status = {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ContainersNotReady",
                    "lastTransitionTime": now,
                    "message": f"containers with unready status: [{loop.container}]",
                },
                {
                    "type": "ContainersReady",
                    "status": "False",
                    "reason": "ContainersNotReady",
                    "lastTransitionTime": now,
                },
            ],
            "containerStatuses": [
                {
                    "name": loop.container,
                    "image": "simulated",
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": loop.restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            ],
        }
        self.core.patch_namespaced_pod_status(loop.name, loop.namespace, {"status": status})
        self.record_event(loop, message, now)

    def record_event(self, loop: CrashLoop, message: str, now: str) -> None:
        name = f"{loop.name}.backoff"
        try:
            event = self.core.read_namespaced_event(name, loop.namespace)
            event.count = (event.count or 1) + 1
            event.last_timestamp = now
            event.message = message
            self.core.replace_namespaced_event(name, loop.namespace, event)
        except ApiException as err:
            if err.status != 404:
                raise
            self.core.create_namespaced_event(
                loop.namespace,
                {
                    "metadata": {"name": name, "namespace": loop.namespace},
                    "involvedObject": {
                        "kind": "Pod",
                        "name": loop.name,
                        "namespace": loop.namespace,
                        "apiVersion": "v1",
                        "fieldPath": f"spec.containers{{{loop.container}}}",
                    },
                    "reason": "BackOff",
                    "type": "Warning",
                    "message": "Back-off restarting failed container "
                    f"{loop.container} in pod {loop.name}_{loop.namespace}",
                    "source": {"component": "kubelet", "host": loop.node},
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
            )

    def run_crash_loops(self) -> None:
        next_due: dict[str, float] = {}
        clock = threading.Event()
        while not self.stop.is_set():
            now = time.monotonic()
            with self.lock:
                loops = dict(self.crash_loops)
            for uid, loop in loops.items():
                if next_due.get(uid, 0) > now:
                    continue
                try:
                    self.crash_once(loop)
                except ApiException as err:
                    if err.status == 404:
                        with self.lock:
                            self.crash_loops.pop(uid, None)
                        continue
                    log.warning("crash loop update for %s failed: %s", loop.name, err.reason)
                next_due[uid] = now + min(BACKOFF_START_S * 2 ** (loop.restarts - 1), BACKOFF_MAX_S)
            clock.wait(0.25)  # the simulated kubelet's clock tick, not a synchronisation

    # -- main loop ---------------------------------------------------------------------
    def run(self, on_ready) -> None:
        threading.Thread(target=self.run_crash_loops, daemon=True).start()
        resource_version = None
        ready_sent = False
        while not self.stop.is_set():
            if resource_version is None:
                pods = self.core.list_pod_for_all_namespaces()
                for pod in pods.items:
                    self.safe_handle("ADDED", pod)
                resource_version = pods.metadata.resource_version
                if not ready_sent:
                    on_ready()
                    ready_sent = True
            stream = watch.Watch().stream(
                self.core.list_pod_for_all_namespaces,
                resource_version=resource_version,
                timeout_seconds=300,
                allow_watch_bookmarks=True,
            )
            try:
                for event in stream:
                    if event["type"] == "ERROR":
                        resource_version = None  # e.g. 410 Gone: list again
                        break
                    if event["type"] == "BOOKMARK":
                        resource_version = event["raw_object"]["metadata"]["resourceVersion"]
                        continue
                    pod = event["object"]
                    resource_version = pod.metadata.resource_version
                    self.safe_handle(event["type"], pod)
            except ApiException as err:
                if err.status == 410:
                    resource_version = None  # expired: list again
                else:
                    log.warning("pod watch failed: %s", err.reason)

    def safe_handle(self, event_type: str, pod: client.V1Pod) -> None:
        try:
            self.handle(event_type, pod)
        except ApiException as err:
            log.warning("handling pod %s failed: %s %s", pod.metadata.name, err.status, err.reason)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="gpuconform sim agent (simulated kubelet parts)")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--simbin", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    config.load_kube_config(args.kubeconfig)

    def on_ready() -> None:
        # The parent waits for this one line; stdout is then let go.
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)

    SimAgent(args.state_dir, args.simbin).run(on_ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
