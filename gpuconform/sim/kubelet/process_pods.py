"""Pods whose containers are real programs (the device plugin, config-manager, GFD), run by
the SIMULATED kubelet as host processes: init containers first, each to success, then the
containers; status and events as kubelet reports them; termination with the grace period.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from gpuconform.sim.kubelet import images
from gpuconform.sim.kubelet.logs import ContainerLogFiles
from gpuconform.sim.kubelet.node import SimNodeRuntime
from gpuconform.sim.kubelet.pid_namespace import PodPidNamespace, pid_namespaces_work
from gpuconform.sim.kubelet.pod_api import PodApi
from gpuconform.sim.kubelet.pod_status import pod_event, running_pod_status
from gpuconform.sim.kubelet.runtime import ContainerProcess, ProcessSpec
from gpuconform.sim.kubelet.volumes import PodVolumes, VolumeError

log = logging.getLogger("gpuconform.sim.agent")
DEFAULT_GRACE_S = 30
# (pod, container, node) -> the container's env: its own, its devices', the node's driver
EnvFor = Callable[[client.V1Pod, Any, SimNodeRuntime], dict[str, str]]


@dataclass
class PodProcesses:
    pod: client.V1Pod
    node: SimNodeRuntime
    init: list[ContainerProcess] = field(default_factory=list)
    containers: list[ContainerProcess] = field(default_factory=list)
    pid_namespace: PodPidNamespace | None = None  # with shareProcessNamespace: true

    @property
    def all(self) -> list[ContainerProcess]:
        return [*self.init, *self.containers]

    def stop(self, grace_s: float) -> None:
        """Every container stopped (SIGTERM, SIGKILL after the grace period), then the pod's
        PID namespace."""
        stoppers = [threading.Thread(target=c.stop, args=(grace_s,), daemon=True) for c in self.all]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        if self.pid_namespace is not None:
            self.pid_namespace.stop()


class ProcessPods:
    def __init__(
        self,
        api: PodApi,
        service_env: dict[str, str],
        ca_pem: bytes,
        on_gone: Callable[[SimNodeRuntime, str], None],
    ) -> None:
        self.api = api
        self.service_env = service_env
        self.ca_pem = ca_pem
        self.on_gone = on_gone  # release the pod's devices
        self.pods: dict[str, PodProcesses] = {}  # pod uid ->
        self.terminating: set[str] = set()
        self.status_lock = threading.Lock()

    def __contains__(self, uid: str) -> bool:
        return uid in self.pods

    # -- start -------------------------------------------------------------------------
    def start(self, pod: client.V1Pod, node: SimNodeRuntime, env_for: EnvFor) -> None:
        """Prepare every container (logs, exec, volumes) and run them in a thread of the pod."""
        meta = pod.metadata
        volumes = PodVolumes(self.api.core, pod, node, self.api.pod_dir(pod))
        pod_processes = PodProcesses(pod, node, pid_namespace=self._pid_namespace(pod))
        try:
            init_restart = "Never" if pod.spec.restart_policy == "Never" else "OnFailure"
            for container in pod.spec.init_containers or []:
                pod_processes.init.append(
                    self._process(pod_processes, container, volumes, init_restart, env_for)
                )
            for container in pod.spec.containers:
                restart = pod.spec.restart_policy or "Always"
                pod_processes.containers.append(
                    self._process(pod_processes, container, volumes, restart, env_for)
                )
        except VolumeError as err:
            # kubelet leaves such a pod in ContainerCreating and says why in an event
            message = f"MountVolume.SetUp failed: {err}"
            self.api.core.create_namespaced_event(
                meta.namespace, pod_event(pod, "FailedMount", message, node.name)
            )
            log.info("pod %s/%s: %s", meta.namespace, meta.name, message)
            pod_processes.stop(grace_s=0)
            return
        for process in pod_processes.all:
            process.logs.create()  # KWOK may be asked for any container's log from now on
        entries = [PodApi.logs_entry(c.logs) for c in pod_processes.all]
        self.api.wire_exec(pod, pod_processes.containers[0].spec.env)
        self.api.apply_kwok_object("logs", pod, {"logs": entries})
        if not self.api.confirm_logs_served(pod):
            pod_processes.stop(grace_s=0)
            return
        self.pods[meta.uid] = pod_processes
        threading.Thread(target=self._run, args=(pod_processes,), daemon=True).start()
        log.info(
            "pod %s/%s on %s: %d init + %d container process(es)",
            meta.namespace,
            meta.name,
            node.name,
            len(pod_processes.init),
            len(pod_processes.containers),
        )

    @staticmethod
    def _pid_namespace(pod: client.V1Pod) -> PodPidNamespace | None:
        """The pod's own PID namespace when it asks to share one and this machine can."""
        if not pod.spec.share_process_namespace or not pid_namespaces_work():
            return None
        try:
            return PodPidNamespace()
        except OSError as err:  # its containers then see the machine's processes, as before
            log.warning("pod %s: no shared PID namespace: %s", pod.metadata.name, err)
            return None

    def _process(
        self,
        pod_processes: PodProcesses,
        container: Any,
        volumes: PodVolumes,
        restart: str,
        env_for: EnvFor,
    ) -> ContainerProcess:
        pod, node, pid_namespace = (
            pod_processes.pod,
            pod_processes.node,
            pod_processes.pid_namespace,
        )
        meta = pod.metadata
        command = list(container.command or [])
        program = images.real_program(container.image or "", command)
        env = self.service_env | env_for(pod, container, node)
        if program is None:
            argv = ["/bin/false"]  # an image whose program is not here: the container fails
        else:
            # Found through PATH, as in the image: argv[0] stays the name the pod asked for
            # (config-manager finds the plugin by it).
            dirs = [*program.image_path, program.path.parent]
            env["PATH"] = ":".join([*map(str, dirs), env.get("PATH", "/usr/bin:/bin")])
            argv = [program.name, *command[1:]]
        spec = ProcessSpec(
            container=container.name,
            pod=f"{meta.name}_{meta.namespace}({meta.uid})",
            argv=argv + list(container.args or []),
            env=env,
            mounts=volumes.mounts(container, self.ca_pem),
            restart=restart,
            workdir=node.root,
            pid_namespace=pid_namespace.path if pid_namespace else None,
        )
        files = ContainerLogFiles(self.api.pod_logs_dir(pod), container.name)
        node.root.mkdir(parents=True, exist_ok=True)
        return ContainerProcess(
            spec, container.image or "", files, lambda status: self.report(meta.uid)
        )

    def _run(self, pod_processes: PodProcesses) -> None:
        """Init containers one after another, each to success; then all containers."""
        for init in pod_processes.init:
            init.start()
            if not init.wait():
                return  # stopped, or failed under restartPolicy Never
        for container in pod_processes.containers:
            container.start()

    # -- status --------------------------------------------------------------------------
    def report(self, uid: str) -> None:
        """A container changed state: write the pod's status (and kubelet's BackOff events)."""
        with self.status_lock:
            pod_processes = self.pods.get(uid)
            if pod_processes is None:
                return
            pod = pod_processes.pod
            init = [c.status for c in pod_processes.init]
            containers = [c.status for c in pod_processes.containers]
            status = running_pod_status(
                init, containers, pod.spec.restart_policy or "Always", "127.0.0.1"
            )
            status["startTime"] = status["conditions"][0]["lastTransitionTime"]
            meta = pod.metadata
            try:
                self.api.core.patch_namespaced_pod_status(
                    meta.name, meta.namespace, {"status": status}
                )
                for c in [*init, *containers]:
                    if c.waiting_reason == "CrashLoopBackOff":
                        self.api.record_backoff(pod, pod_processes.node.name, c)
            except ApiException as err:
                if err.status != 404:
                    log.warning("pod %s status update failed: %s", meta.name, err.reason)
            except Exception:  # a container's supervisor thread must outlive a bad update
                log.exception("pod %s status update failed", meta.name)

    # -- termination -----------------------------------------------------------------------
    def handle(self, event_type: str, pod: client.V1Pod, node: SimNodeRuntime) -> None:
        """A watch event for a process pod: only deletion concerns the runtime."""
        uid = pod.metadata.uid
        if event_type == "DELETED":
            self.terminate(pod, node, grace_s=0, delete=False)
        elif uid in self.terminating:
            return  # its containers are stopping; the pod object goes once they have
        elif pod.metadata.deletion_timestamp and uid in self.pods:
            self.terminating.add(uid)
            grace = pod.metadata.deletion_grace_period_seconds
            grace_s = DEFAULT_GRACE_S if grace is None else grace
            threading.Thread(
                target=self.terminate, args=(pod, node, grace_s, True), daemon=True
            ).start()
        elif pod.metadata.deletion_timestamp:
            self.api.delete_now(pod)  # never started (or the agent restarted): nothing to stop

    def terminate(self, pod: client.V1Pod, node: SimNodeRuntime, grace_s: float, delete: bool):
        """Pod termination: SIGTERM every container, SIGKILL after the grace period, delete."""
        pod_processes = self.pods.pop(pod.metadata.uid, None)
        if pod_processes is not None:
            pod_processes.stop(grace_s)
        self.on_gone(node, pod.metadata.uid)
        if delete:
            self.api.delete_now(pod)
        self.terminating.discard(pod.metadata.uid)

    def stop_all(self) -> None:
        """The agent is stopping: every container process ends (SIGTERM, then SIGKILL)."""
        for uid in list(self.pods):
            pod_processes = self.pods.pop(uid, None)
            if pod_processes is not None:
                pod_processes.stop(grace_s=2)
