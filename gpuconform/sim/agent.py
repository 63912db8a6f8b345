"""The sim agent: the kubelet of every SIMULATED node (KWOK simulates only node heartbeats).

One process per simulated cluster, driven by a single watch on pods. Per GPU node:

* device manager (gpuconform.sim.kubelet.device_manager) - serves kubelet's Registration
  service on that node's `kubelet.sock`; the REAL device plugin registers there, and its
  `ListAndWatch` drives the node's capacity and allocatable. GPU pods get their devices
  through the plugin's `GetPreferredAllocation` and `Allocate`.
* container runtime (gpuconform.sim.kubelet.runtime) - a container whose image holds a real
  program (the device plugin, GFD, config-manager: gpuconform.sim.kubelet.images) runs it as a
  host process in its own mount namespace; kubelet's restarts, back-off, logs and termination
  follow. Other containers (GPU test pods, the node probe) run their command with the
  SIMULATED GPU tools first on PATH; those tools read the node's NVML, NVIDIA's mock library.
* image pulls - an image the simulated registry lacks ends in ErrImagePull/ImagePullBackOff.

Without a real plugin binary (or without mount namespaces), or beyond the first
`GPUCONFORM_SIM_REAL_PLUGIN_NODES` nodes, a device-plugin pod gets SIMULATED registration:
its node advertises its GPUs once the pod is Ready.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from gpuconform.sim import third_party
from gpuconform.sim.kubelet import images
from gpuconform.sim.kubelet.logs import ContainerLogFiles, cri_log
from gpuconform.sim.kubelet.node import SimNodeRuntime
from gpuconform.sim.kubelet.pod_status import (
    admission_failure_status,
    pod_event,
    running_pod_status,
)
from gpuconform.sim.kubelet.runtime import (
    ContainerProcess,
    ContainerStatus,
    Mount,
    ProcessSpec,
    mount_namespaces_work,
    now_rfc3339,
)
from gpuconform.sim.nodes import ANNOTATION_DRIVER, GPU_RESOURCE, SIM

log = logging.getLogger("gpuconform.sim.agent")

ANNOTATION_PREPARED = SIM + "prepared"
ANNOTATION_EXIT_CODE = SIM + "exit-code"
ANNOTATION_DEVICES = SIM + "devices"
ANNOTATION_PULL_FAILED = SIM + "image-pull-failed"
# Pods whose containers are host processes: KWOK's stages leave them to the agent.
ANNOTATION_RUNTIME = SIM + "runtime"
KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"
# Entry points the simulated runtime will run on the host; anything else gets no output.
SIMULATED_ENTRYPOINTS = {"sh", "bash", "nvidia-smi", "nvidia-container-cli"}
COMMAND_TIMEOUT_S = 30
# Bound on KWOK picking up a new Logs object (normally well under a second).
LOGS_SERVED_TIMEOUT_S = 60
REAL_PLUGIN_NODES_ENV = "GPUCONFORM_SIM_REAL_PLUGIN_NODES"
DEFAULT_REAL_PLUGIN_NODES = 16
DEFAULT_GRACE_S = 30
# kubelet keeps a resource in capacity for 5 minutes after its plugin goes; compressed.
CAPACITY_GRACE_S = float(os.environ.get("GPUCONFORM_SIM_CAPACITY_GRACE_S", "5"))
EXTENDED_PREFIX = "nvidia.com/"


def gpu_limits(container: Any) -> dict[str, int]:
    """The container's NVIDIA extended-resource limits (nvidia.com/gpu, .shared, mig-*)."""
    limits = (container.resources and container.resources.limits) or {}
    return {k: int(v) for k, v in limits.items() if k.startswith(EXTENDED_PREFIX) and int(v)}


def is_finished(pod: client.V1Pod) -> bool:
    return (pod.status and pod.status.phase) in ("Succeeded", "Failed")


def is_ready(pod: client.V1Pod) -> bool:
    for cond in (pod.status and pod.status.conditions) or []:
        if cond.type == "Ready":
            return cond.status == "True"
    return False


def runs_device_plugin(pod: client.V1Pod) -> bool:
    """Does the pod run NVIDIA's device plugin (judged by what it runs, not by labels)?"""
    return any(
        images.plugin_program(c.image or "", list(c.command or [])) == "nvidia-device-plugin"
        for c in pod.spec.containers
    )


def literal_env(container: Any, pod: client.V1Pod) -> dict[str, str]:
    """The container's env: literal values and the downward-API fields kubelet resolves."""
    fields = {
        "spec.nodeName": pod.spec.node_name,
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace,
        "metadata.uid": pod.metadata.uid,
        "spec.serviceAccountName": pod.spec.service_account_name,
    }
    env: dict[str, str] = {}
    for var in container.env or []:
        if var.value is not None:
            env[var.name] = var.value
        elif var.value_from and var.value_from.field_ref:
            env[var.name] = fields.get(var.value_from.field_ref.field_path) or ""
        else:
            env.setdefault(var.name, "")
    return env


class SimAgent:
    def __init__(self, state_dir: Path, simbin: Path) -> None:
        self.state_dir = state_dir
        self.simbin = simbin
        api = client.ApiClient()
        api.user_agent = "gpuconform-sim-agent"  # the simulated kubelet, not the suite
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.nodes: dict[str, SimNodeRuntime | None] = {}
        self.process_pods: dict[str, list[ContainerProcess]] = {}  # pod uid -> containers
        self.simulated_plugin_pods: dict[str, client.V1Pod] = {}  # uid -> pod
        self.published: dict[str, dict[str, int]] = {}  # node -> capacity we last wrote
        self.status_lock = threading.Lock()
        self.pod_status_lock = threading.Lock()
        self.backoffs_recorded: dict[tuple[str, str], int] = {}
        self.terminating: set[str] = set()  # pod uids whose containers are being stopped
        self.stop = threading.Event()
        self.real_plugins = self._real_plugins_possible()
        self.real_plugin_nodes = int(
            os.environ.get(REAL_PLUGIN_NODES_ENV, DEFAULT_REAL_PLUGIN_NODES)
        )

    @staticmethod
    def _real_plugins_possible() -> bool:
        try:
            available = third_party.ensure_third_party(log.info)
        except third_party.ThirdPartyError as err:
            log.warning("device plugin: simulated (no real binary): %s", err)
            return False
        if not available:
            log.warning("device plugin: simulated (no real binary): no third-party directory")
            return False
        if not mount_namespaces_work():
            log.warning("device plugin: simulated (no real binary): `unshare --mount` failed")
            return False
        return True

    # -- nodes -------------------------------------------------------------------------
    def node(self, name: str) -> SimNodeRuntime | None:
        """The simulated node's runtime, or None for a node that is not a gpuconform sim node."""
        if name not in self.nodes:
            try:
                obj = self.core.read_node(name)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
            self.nodes[name] = SimNodeRuntime.from_node(obj, self.state_dir)
        return self.nodes[name]

    def runs_real_plugins(self, node: SimNodeRuntime) -> bool:
        """Does this node get kubelet's real device manager (and so the real plugin)?"""
        if node.device_manager is not None:
            return True
        if not self.real_plugins or node.gpus == 0:
            return False
        running = sum(1 for n in self.nodes.values() if n and n.device_manager is not None)
        if running >= self.real_plugin_nodes:
            return False
        from gpuconform.sim.kubelet.device_manager import NodeDeviceManager

        node.device_manager = NodeDeviceManager(
            node.name,
            node.host_path("/var/lib/kubelet/device-plugins"),
            self.publish_resources,
            capacity_grace_s=CAPACITY_GRACE_S,
        )
        node.device_manager.start()
        log.info("node %s: device manager serving %s", node.name, node.device_manager.socket_path)
        return True

    def why_simulated(self) -> str:
        if not self.real_plugins:
            return "device plugin: simulated (no real binary)"
        return (
            f"real plugins run on the first {self.real_plugin_nodes} GPU nodes only "
            f"({REAL_PLUGIN_NODES_ENV})"
        )

    def publish_resources(self, node: str, capacity: dict[str, int], allocatable: dict[str, int]):
        """Write the node's extended resources to its status, as kubelet does."""
        with self.status_lock:
            previous = self.published.get(node, {})
            removed = {name: None for name in previous if name not in capacity}
            body = {
                "status": {
                    "capacity": {k: str(v) for k, v in capacity.items()} | removed,
                    "allocatable": {k: str(allocatable.get(k, 0)) for k in capacity} | removed,
                }
            }
            try:
                self.core.patch_node_status(node, body)
            except ApiException as err:
                log.warning("node %s: status update failed: %s", node, err.reason)
                return
            self.published[node] = dict(capacity)
        log.info("node %s: capacity %s allocatable %s", node, capacity, allocatable)

    def simulated_registration(self, node: SimNodeRuntime) -> None:
        """No real plugin on this node: advertise its GPUs while a plugin pod is Ready."""
        plugin_ready = any(
            p.spec.node_name == node.name and is_ready(p) and not p.metadata.deletion_timestamp
            for p in self.simulated_plugin_pods.values()
        )
        if not node.has_nvml or node.fault.get("nvml_devices") == 0:
            return  # a plugin without devices registers nothing
        if plugin_ready:
            self.publish_resources(node.name, {GPU_RESOURCE: node.gpus}, {GPU_RESOURCE: node.gpus})
        elif node.name in self.published:
            self.publish_resources(node.name, {GPU_RESOURCE: node.gpus}, {GPU_RESOURCE: 0})

    # -- pods --------------------------------------------------------------------------
    def handle(self, event_type: str, pod: client.V1Pod) -> None:
        node_name = pod.spec.node_name
        if not node_name:
            return
        node = self.node(node_name)
        if node is None:
            return
        uid = pod.metadata.uid
        annotations = pod.metadata.annotations or {}
        if uid in self.process_pods or annotations.get(ANNOTATION_RUNTIME) == "process":
            self.handle_process_pod(event_type, pod, node)
            return
        if runs_device_plugin(pod):
            if event_type == "DELETED":
                self.simulated_plugin_pods.pop(uid, None)
            else:
                self.simulated_plugin_pods[uid] = pod
            self.simulated_registration(node)
        if event_type == "DELETED" or pod.metadata.deletion_timestamp or is_finished(pod):
            self.release(node, uid)
            return
        if ANNOTATION_PULL_FAILED in annotations or annotations.get(ANNOTATION_PREPARED) == "true":
            return
        image = next((c.image for c in pod.spec.containers if images.image_missing(c.image)), None)
        if image:
            self.fail_image_pull(pod, node, image)
        elif self.wants_processes(pod, node):
            self.start_process_pod(pod, node)
        else:
            self.prepare_simulated(pod, node)

    def release(self, node: SimNodeRuntime, uid: str) -> None:
        """The pod is gone or finished: its devices are free again."""
        node.simulated_allocations.pop(uid, None)
        if node.device_manager is not None:
            node.device_manager.release(uid)

    def wants_processes(self, pod: client.V1Pod, node: SimNodeRuntime) -> bool:
        """Run this pod's containers as real processes? Only pods of the plugin image."""
        programs = [
            images.real_program(c.image or "", list(c.command or [])) for c in pod.spec.containers
        ]
        return any(programs) and self.runs_real_plugins(node)

    # -- GPUs for a pod ----------------------------------------------------------------
    def allocate(self, pod: client.V1Pod, node: SimNodeRuntime) -> dict[str, dict[str, str]]:
        """Each container's env from its devices (kubelet's Allocate); raises AllocationError."""
        envs: dict[str, dict[str, str]] = {}
        uid = pod.metadata.uid
        for container in pod.spec.containers:
            env: dict[str, str] = {}
            for resource, count in gpu_limits(container).items():
                manager = node.device_manager
                if manager is not None:  # the real plugin's devices, or kubelet's refusal
                    env.update(manager.allocate(uid, container.name, resource, count).envs)
                else:
                    env["NVIDIA_VISIBLE_DEVICES"] = ",".join(
                        self.simulated_allocation(node, uid, count)
                    )
            envs[container.name] = env
        return envs

    @staticmethod
    def simulated_allocation(node: SimNodeRuntime, uid: str, count: int) -> list[str]:
        """SIMULATED registration has no plugin to ask: hand out free device UUIDs in order."""
        used = {d for ids in node.simulated_allocations.values() for d in ids}
        chosen = [d for d in node.device_uuids() if d not in used][:count]
        node.simulated_allocations[uid] = chosen
        return chosen

    def container_env(
        self, pod: client.V1Pod, container: Any, node: SimNodeRuntime, devices_env: dict[str, str]
    ) -> dict[str, str]:
        """What the process of a container sees: its env, its devices, and the node's driver.

        The NVIDIA container runtime gives a container the driver (here: the node's NVML)
        when NVIDIA_VISIBLE_DEVICES is set, by the pod or by the device plugin's Allocate,
        or when it is privileged (then it sees every GPU).
        """
        env = {"PATH": f"{self.simbin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        env |= literal_env(container, pod)
        env |= devices_env
        privileged = bool(container.security_context and container.security_context.privileged)
        if privileged and "NVIDIA_VISIBLE_DEVICES" not in env:
            env["NVIDIA_VISIBLE_DEVICES"] = "all"
        if env.get("NVIDIA_VISIBLE_DEVICES") not in (None, "", "void"):
            env |= node.nvml_env
        # The node probe runs host tools directly: there is no host root to chroot into.
        env["GPUCONFORM_SIM"] = "1"
        return env

    def fail_admission(self, pod: client.V1Pod, node: SimNodeRuntime, message: str) -> None:
        """kubelet's admission failed (the plugin's Allocate): the pod fails, never starts."""
        meta = pod.metadata
        self.core.patch_namespaced_pod_status(
            meta.name,
            meta.namespace,
            {"status": admission_failure_status("UnexpectedAdmissionError", message)},
        )
        self.core.create_namespaced_event(
            meta.namespace, pod_event(pod, "UnexpectedAdmissionError", message, node.name)
        )
        log.info("pod %s/%s: admission failed: %s", meta.namespace, meta.name, message)

    # -- simulated containers (GPU test pods, probes) ----------------------------------
    def host_root_mounts(self, pod: client.V1Pod) -> list[str]:
        host_volumes = {
            v.name for v in pod.spec.volumes or [] if v.host_path and v.host_path.path == "/"
        }
        return [
            m.mount_path
            for c in pod.spec.containers
            for m in c.volume_mounts or []
            if m.name in host_volumes
        ]

    def map_host_root(self, env: dict[str, str], pod: client.V1Pod, node: SimNodeRuntime):
        """Paths under a hostPath "/" mount point at the node's simulated root directory."""
        root = str(self.node_root(node))
        for mount in self.host_root_mounts(pod):
            prefix = mount.rstrip("/")
            for name, value in env.items():
                if value == mount or value.startswith(prefix + "/"):
                    env[name] = root + value[len(prefix) :]
        return env

    def node_root(self, node: SimNodeRuntime) -> Path:
        """The node's root filesystem as the node probe reads it (device nodes, driver, config)."""
        root = node.root
        marker = root / "proc/driver/nvidia"
        if marker.exists():
            return root
        (root / "dev").mkdir(parents=True, exist_ok=True)
        marker.mkdir(parents=True)
        (root / "etc/containerd").mkdir(parents=True, exist_ok=True)
        for i in range(node.gpus):
            (root / "dev" / f"nvidia{i}").touch()
        if node.gpus:
            for dev in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"):
                (root / "dev" / dev).touch()
        if node.has_nvml:
            driver = node.annotations.get(ANNOTATION_DRIVER, "")
            (marker / "version").write_text(
                f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {driver}  Release Build"
                "  (dvs-builder@U22-I3-AE18-23-3)  (simulated)\nGCC version:  gcc version 12.3.0\n"
            )
        runtime = 'default_runtime_name = "nvidia"\n' if node.has_nvml else ""
        (root / "etc/containerd/config.toml").write_text(
            'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  ' + runtime
        )
        return root

    def simulate_command(self, container: Any, env: dict[str, str]) -> tuple[str, int]:
        argv = list(container.command or []) + list(container.args or [])
        image = container.image or ""
        if not argv:
            if "vectoradd" in image.lower():
                argv = ["vectorAdd"]
            else:
                return "", 0
        name = os.path.basename(argv[0])
        if name not in SIMULATED_ENTRYPOINTS and name != "vectorAdd":
            return f"(simulated runtime: {shlex.join(argv)} is not simulated; no output)\n", 0
        argv[0] = name
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

    def prepare_simulated(self, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        """Wire exec and logs, assign GPUs, run a run-to-completion command; KWOK starts it."""
        from gpuconform.sim.kubelet.device_manager import AllocationError

        meta = pod.metadata
        try:
            devices = self.allocate(pod, node)
        except AllocationError as err:
            self.fail_admission(pod, node, err.pod_message)
            return
        run_to_completion = pod.spec.restart_policy in ("Never", "OnFailure")
        plugin = runs_device_plugin(pod)
        logs_dir = self.pod_logs_dir(pod)
        log_entries = []
        exit_code = 0
        exec_env: dict[str, str] = {}
        for container in pod.spec.containers:
            env = self.map_host_root(
                self.container_env(pod, container, node, devices.get(container.name, {})),
                pod,
                node,
            )
            exec_env = exec_env or env
            if plugin:
                output = f"(SIMULATED registration for {container.image}: {self.why_simulated()})\n"
            elif run_to_completion:
                output, code = self.simulate_command(container, env)
                exit_code = exit_code or code
            else:
                output = ""
            files = ContainerLogFiles(logs_dir, container.name)
            files.create()
            files.current.write_text(cri_log(output))
            log_entries.append(self.logs_entry(files))
        self.wire_exec(pod, exec_env)
        self.apply_kwok_object("logs", pod, {"logs": log_entries})
        if not self.confirm_logs_served(pod):
            return
        device_ids = ",".join(v for env in devices.values() for v in env.values())
        annotations = {ANNOTATION_PREPARED: "true", ANNOTATION_DEVICES: device_ids}
        if run_to_completion and not plugin:
            annotations[ANNOTATION_EXIT_CODE] = str(exit_code)
        if not self.annotate(pod, annotations):
            self.release(node, meta.uid)
            return
        log.info(
            "prepared pod %s/%s on %s (devices %s)", meta.namespace, meta.name, node.name, devices
        )

    # -- real processes (the device plugin and friends) --------------------------------
    def start_process_pod(self, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        """Run each container of the pod as a host process (the real program of its image)."""
        from gpuconform.sim.kubelet.device_manager import AllocationError

        meta = pod.metadata
        if not self.annotate(pod, {ANNOTATION_RUNTIME: "process"}):
            return
        try:
            devices = self.allocate(pod, node)
        except AllocationError as err:
            self.fail_admission(pod, node, err.pod_message)
            return
        logs_dir = self.pod_logs_dir(pod)
        restart_always = pod.spec.restart_policy in (None, "Always")
        statuses: list[ContainerStatus] = []
        containers: list[ContainerProcess] = []
        log_entries = []
        exec_env: dict[str, str] = {}
        for container in pod.spec.containers:
            env = self.container_env(pod, container, node, devices.get(container.name, {}))
            exec_env = exec_env or env
            program = images.real_program(container.image or "", list(container.command or []))
            argv = [str(program.path)] if program else ["/bin/false"]
            spec = ProcessSpec(
                container=container.name,
                pod=f"{meta.name}_{meta.namespace}",
                argv=argv + list(container.args or []),
                env=env,
                mounts=self.volume_mounts(pod, container, node),
                restart_always=restart_always,
                workdir=node.root,
            )
            files = ContainerLogFiles(logs_dir, container.name)
            files.create()
            log_entries.append(self.logs_entry(files))
            process = ContainerProcess(
                spec,
                container.image or "",
                files,
                lambda status, pod=pod, node=node: self.report_process_status(pod, node),
            )
            statuses.append(process.status)
            containers.append(process)
        self.wire_exec(pod, exec_env)
        self.apply_kwok_object("logs", pod, {"logs": log_entries})
        if not self.confirm_logs_served(pod):
            return
        self.process_pods[meta.uid] = containers
        node.root.mkdir(parents=True, exist_ok=True)
        for process in containers:
            process.start()
        log.info(
            "pod %s/%s on %s: %d container process(es)",
            meta.namespace,
            meta.name,
            node.name,
            len(containers),
        )

    def volume_mounts(self, pod: client.V1Pod, container: Any, node: SimNodeRuntime) -> list[Mount]:
        """The container's volume mounts as bind mounts of the node's (or pod's) directories."""
        volumes = {v.name: v for v in pod.spec.volumes or []}
        mounts = []
        for mount in container.volume_mounts or []:
            volume = volumes.get(mount.name)
            if volume is None:
                continue
            if volume.host_path:
                source = node.host_path(volume.host_path.path)
            elif volume.empty_dir is not None:
                source = self.pod_dir(pod) / "volumes" / mount.name
                source.mkdir(parents=True, exist_ok=True)
            else:
                continue  # configMap, projected, secret: not simulated yet
            mounts.append(Mount(source, mount.mount_path))
        return mounts

    def report_process_status(self, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        """A container process changed state: write the pod status (and BackOff events)."""
        with self.pod_status_lock:
            self._report_process_status(pod, node)

    def _report_process_status(self, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        containers = self.process_pods.get(pod.metadata.uid)
        if containers is None:
            return
        meta = pod.metadata
        statuses = [c.status for c in containers]
        restart_always = pod.spec.restart_policy in (None, "Always")
        status = running_pod_status(statuses, restart_always, "127.0.0.1")
        status["startTime"] = status["conditions"][0]["lastTransitionTime"]
        try:
            self.core.patch_namespaced_pod_status(meta.name, meta.namespace, {"status": status})
            for c in statuses:
                if c.waiting_reason == "CrashLoopBackOff":
                    self.record_backoff(pod, node, c)
        except ApiException as err:
            if err.status != 404:
                log.warning("pod %s status update failed: %s", meta.name, err.reason)

    def record_backoff(self, pod: client.V1Pod, node: SimNodeRuntime, status: ContainerStatus):
        """kubelet's BackOff event, counted up once per restart (one Event per container)."""
        meta = pod.metadata
        key = (meta.uid, status.name)
        if self.backoffs_recorded.get(key) == status.restart_count:
            return
        self.backoffs_recorded[key] = status.restart_count
        name = f"{meta.name}.backoff-{status.name}"
        message = (
            f"Back-off restarting failed container {status.name} in pod "
            f"{meta.name}_{meta.namespace}"
        )
        try:
            event = self.core.read_namespaced_event(name, meta.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            field_path = f"spec.containers{{{status.name}}}"
            body = pod_event(pod, "BackOff", message, node.name, field_path=field_path, name=name)
            self.core.create_namespaced_event(meta.namespace, body)
            return
        patch = {"count": (event.count or 1) + 1, "lastTimestamp": now_rfc3339()}
        self.core.patch_namespaced_event(name, meta.namespace, patch)

    def handle_process_pod(self, event_type: str, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        uid = pod.metadata.uid
        if event_type == "DELETED":
            self.terminate(pod, node, grace_s=0, delete=False)
        elif uid in self.terminating:
            return  # its containers are stopping; the pod object goes once they have
        elif pod.metadata.deletion_timestamp and uid in self.process_pods:
            self.terminating.add(uid)
            grace = pod.metadata.deletion_grace_period_seconds
            grace_s = DEFAULT_GRACE_S if grace is None else grace
            threading.Thread(
                target=self.terminate, args=(pod, node, grace_s, True), daemon=True
            ).start()
        elif pod.metadata.deletion_timestamp:
            self.delete_now(pod)  # never started (or the agent restarted): nothing to stop

    def terminate(self, pod: client.V1Pod, node: SimNodeRuntime, grace_s: float, delete: bool):
        """Pod termination: SIGTERM every container, SIGKILL after the grace period, delete."""
        containers = self.process_pods.pop(pod.metadata.uid, [])
        stoppers = [
            threading.Thread(target=c.stop, args=(grace_s,), daemon=True) for c in containers
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        self.release(node, pod.metadata.uid)
        if delete:
            self.delete_now(pod)
        self.terminating.discard(pod.metadata.uid)

    def delete_now(self, pod: client.V1Pod) -> None:
        meta = pod.metadata
        try:
            self.core.delete_namespaced_pod(
                meta.name,
                meta.namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta.uid)
                ),
            )
        except ApiException as err:
            if err.status not in (404, 409):
                raise

    def stop_all(self) -> None:
        """The agent is stopping: every container process ends (SIGTERM, then SIGKILL)."""
        for uid in list(self.process_pods):
            for container in self.process_pods.pop(uid, []):
                container.stop(grace_s=2)
        for node in self.nodes.values():
            if node and node.device_manager:
                node.device_manager.stop()

    # -- KWOK objects, logs, annotations -----------------------------------------------
    def pod_dir(self, pod: client.V1Pod) -> Path:
        meta = pod.metadata
        return self.state_dir / "pods" / f"{meta.namespace}_{meta.name}_{meta.uid}"

    def pod_logs_dir(self, pod: client.V1Pod) -> Path:
        return self.pod_dir(pod) / "logs"

    @staticmethod
    def logs_entry(files: ContainerLogFiles) -> dict[str, Any]:
        return {
            "containers": [files.container],
            "logsFile": str(files.current),
            "previousLogsFile": str(files.previous),
        }

    def wire_exec(self, pod: client.V1Pod, env: dict[str, str]) -> None:
        """`kubectl exec` into the pod runs the command on the host with the container's env."""
        local = {
            "workDir": str(self.state_dir),
            "envs": [{"name": k, "value": v} for k, v in sorted(env.items())],
        }
        self.apply_kwok_object("execs", pod, {"execs": [{"local": local}]})

    def annotate(self, pod: client.V1Pod, annotations: dict[str, str]) -> bool:
        """Set annotations on the pod; False if the pod is gone."""
        meta = pod.metadata
        try:
            self.core.patch_namespaced_pod(
                meta.name, meta.namespace, {"metadata": {"annotations": annotations}}
            )
        except ApiException as err:
            if err.status != 404:
                raise
            return False
        return True

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

    def apply_kwok_object(self, plural: str, pod: client.V1Pod, spec: dict[str, Any]) -> None:
        """Create (or replace) the pod's KWOK Exec or Logs object, owned by the pod."""
        meta = pod.metadata
        owner = {"apiVersion": "v1", "kind": "Pod", "name": meta.name, "uid": meta.uid}
        body = {
            "apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}",
            "kind": "Exec" if plural == "execs" else "Logs",
            "metadata": {
                "name": meta.name,
                "namespace": meta.namespace,
                "ownerReferences": [owner],
            },
            "spec": spec,
        }
        try:
            self.custom.create_namespaced_custom_object(
                KWOK_GROUP, KWOK_VERSION, meta.namespace, plural, body
            )
        except ApiException as err:
            if err.status != 409:
                raise
            current = self.custom.get_namespaced_custom_object(
                KWOK_GROUP, KWOK_VERSION, meta.namespace, plural, meta.name
            )
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.custom.replace_namespaced_custom_object(
                KWOK_GROUP, KWOK_VERSION, meta.namespace, plural, meta.name, body
            )

    def fail_image_pull(self, pod: client.V1Pod, node: SimNodeRuntime, image: str) -> None:
        """The simulated registry has no such image: ErrImagePull, then ImagePullBackOff."""
        meta = pod.metadata
        container = next(c.name for c in pod.spec.containers if c.image == image)
        reason = (
            f'failed to pull and unpack image "{image}": failed to resolve reference '
            f'"{image}": {image}: not found'
        )
        if not self.annotate(pod, {ANNOTATION_PULL_FAILED: image}):
            return
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
        message = f'Failed to pull image "{image}": rpc error: code = NotFound desc = {reason}'
        self.core.create_namespaced_event(
            meta.namespace, pod_event(pod, "Failed", message, node.name)
        )
        log.info(
            "pod %s/%s: image %s not in the simulated registry", meta.namespace, meta.name, image
        )

    # -- main loop ---------------------------------------------------------------------
    def run(self, on_ready) -> None:
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
    agent = SimAgent(args.state_dir, args.simbin)

    def on_ready() -> None:
        # The parent waits for this one line; stdout is then let go.
        mode = "real" if agent.real_plugins else "simulated (no real binary)"
        sys.stdout.write(f"ready device-plugin={mode}\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)

    def on_term(signum: int, frame: Any) -> None:
        agent.stop_all()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        agent.run(on_ready)
    finally:
        agent.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
