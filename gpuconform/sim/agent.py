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
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from gpuconform.sim import third_party
from gpuconform.sim.kubelet import credentials, images
from gpuconform.sim.kubelet.node import DEVICE_PLUGIN_DIR, SimNodeRuntime
from gpuconform.sim.kubelet.pod_api import ANNOTATION_PULL_FAILED, PodApi
from gpuconform.sim.kubelet.pod_devices import allocate, container_env
from gpuconform.sim.kubelet.process_pods import ProcessPods
from gpuconform.sim.kubelet.runtime import mount_namespaces_work
from gpuconform.sim.kubelet.simulated_pods import ANNOTATION_PREPARED, SimulatedPods
from gpuconform.sim.nodes import GPU_RESOURCE, SIM

log = logging.getLogger("gpuconform.sim.agent")

# Pods whose containers are host processes: KWOK's stages leave them to the agent.
ANNOTATION_RUNTIME = SIM + "runtime"
REAL_PLUGIN_NODES_ENV = "GPUCONFORM_SIM_REAL_PLUGIN_NODES"
DEFAULT_REAL_PLUGIN_NODES = 16
# kubelet keeps a resource in capacity for 5 minutes after its plugin goes; compressed.
CAPACITY_GRACE_S = float(os.environ.get("GPUCONFORM_SIM_CAPACITY_GRACE_S", "5"))


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


class SimAgent:
    def __init__(self, state_dir: Path, simbin: Path, kubeconfig: Path) -> None:
        self.state_dir = state_dir
        self.simbin = simbin
        api = client.ApiClient()
        api.user_agent = "gpuconform-sim-agent"  # the simulated kubelet, not the suite
        self.core = client.CoreV1Api(api)
        self.pod_api = PodApi(self.core, client.CustomObjectsApi(api), state_dir)
        host, port, ca_pem = credentials.api_endpoint(kubeconfig)
        self.simulated_pods = SimulatedPods(self.pod_api, state_dir)
        # Processes run on this machine: the `kubernetes` Service is the API server itself.
        self.process_pods = ProcessPods(
            self.pod_api, credentials.service_env(host, port), ca_pem, self.release
        )
        self.nodes: dict[str, SimNodeRuntime | None] = {}
        self.simulated_plugin_pods: dict[str, client.V1Pod] = {}  # uid -> pod
        self.published: set[str] = set()  # nodes whose extended resources we have written
        self.status_lock = threading.Lock()
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
            node.host_path(DEVICE_PLUGIN_DIR),
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
            # A vanished plugin's resource stays at 0, as kubelet keeps it: keys never go.
            body = {
                "status": {
                    "capacity": {k: str(v) for k, v in capacity.items()},
                    "allocatable": {k: str(allocatable.get(k, 0)) for k in capacity},
                }
            }
            try:
                self.core.patch_node_status(node, body)
            except ApiException as err:
                log.warning("node %s: status update failed: %s", node, err.reason)
                return
            self.published.add(node)
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
            self.process_pods.handle(event_type, pod, node)
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
            self.pod_api.fail_image_pull(pod, node.name, image)
        elif self.wants_processes(pod, node):
            self.start_process_pod(pod, node)
        else:
            self.prepare_simulated(pod, node)

    def release(self, node: SimNodeRuntime, uid: str) -> None:
        """The pod is gone or finished: its devices are free again."""
        node.simulated_allocations.pop(uid, None)
        node.simulated_reuse.pop(uid, None)
        if node.device_manager is not None:
            node.device_manager.release(uid)

    def wants_processes(self, pod: client.V1Pod, node: SimNodeRuntime) -> bool:
        """Run this pod's containers as real processes? Pods of an image with a real program:
        the plugin image on GPU nodes with a device manager, Node Feature Discovery anywhere."""
        commands = [(c.image or "", list(c.command or [])) for c in pod.spec.containers]
        if not any(images.real_program(image, command) for image, command in commands):
            return False
        if any(images.nfd_program(image, command) for image, command in commands):
            return True
        return self.runs_real_plugins(node)

    # -- simulated containers (GPU test pods, probes) ----------------------------------
    def prepare_simulated(self, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        """Assign devices, then let the simulated runtime wire the pod (kubelet/simulated_pods)."""
        from gpuconform.sim.kubelet.device_manager import AllocationError

        try:
            devices = allocate(pod, node)
        except AllocationError as err:
            self.pod_api.fail_admission(pod, node.name, err.pod_message)
            return
        envs = {
            c.name: container_env(pod, c, node, devices.get(c.name, {}), self.simbin)
            for c in [*(pod.spec.init_containers or []), *pod.spec.containers]
        }
        note = None
        if runs_device_plugin(pod):
            note = f"(SIMULATED registration for the device plugin: {self.why_simulated()})\n"
        if not self.simulated_pods.prepare(pod, node, envs, note):
            self.release(node, pod.metadata.uid)

    def start_process_pod(self, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        """The pod's containers run their images' real programs (see kubelet/process_pods)."""
        from gpuconform.sim.kubelet.device_manager import AllocationError

        if not self.pod_api.annotate(pod, {ANNOTATION_RUNTIME: "process"}):
            return
        try:
            devices = allocate(pod, node)
        except AllocationError as err:
            self.pod_api.fail_admission(pod, node.name, err.pod_message)
            return

        def env_for(pod: client.V1Pod, container: Any, node: SimNodeRuntime) -> dict[str, str]:
            return container_env(pod, container, node, devices.get(container.name, {}), self.simbin)

        self.process_pods.start(pod, node, env_for)

    def stop_all(self) -> None:
        """The agent is stopping: every container process ends, every device manager too."""
        self.process_pods.stop_all()
        for node in self.nodes.values():
            if node and node.device_manager:
                node.device_manager.stop()

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
        """One pod's trouble never stops the kubelet of every node."""
        try:
            self.handle(event_type, pod)
        except ApiException as err:
            log.warning("handling pod %s failed: %s %s", pod.metadata.name, err.status, err.reason)
        except Exception:
            log.exception("handling pod %s/%s failed", pod.metadata.namespace, pod.metadata.name)


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
    agent = SimAgent(args.state_dir, args.simbin, Path(args.kubeconfig))

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
