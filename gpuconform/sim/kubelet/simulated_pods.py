"""Pods the SIMULATED runtime does not run as real programs: GPU test pods, the node probe,
pods of images that hold no real binary here. A run-to-completion container's command runs
once with the SIMULATED GPU tools first on PATH (they read the node's NVML); its output is
the container log and its exit code the container's. KWOK's stages then start and finish
the pod (stages.yaml): the agent only marks it prepared.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client

from gpuconform.sim.kubelet.logs import ContainerLogFiles, cri_log
from gpuconform.sim.kubelet.node import SimNodeRuntime
from gpuconform.sim.kubelet.pod_api import PodApi
from gpuconform.sim.nodes import ANNOTATION_DRIVER, SIM

log = logging.getLogger("gpuconform.sim.agent")

ANNOTATION_PREPARED = SIM + "prepared"
ANNOTATION_EXIT_CODE = SIM + "exit-code"
# Set when an init container failed: its name and exit code (stages.yaml fails the pod).
ANNOTATION_INIT_FAILED = SIM + "init-failed"
ANNOTATION_INIT_EXIT_CODE = SIM + "init-exit-code"
# Entry points the simulated runtime will run on the host; anything else gets no output.
SIMULATED_ENTRYPOINTS = {"sh", "bash", "nvidia-smi", "nvidia-container-cli", "vectorAdd"}
COMMAND_TIMEOUT_S = 30


class SimulatedPods:
    def __init__(self, api: PodApi, state_dir: Path) -> None:
        self.api = api
        self.state_dir = state_dir

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
        if name not in SIMULATED_ENTRYPOINTS:
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

    @staticmethod
    def _write_log(logs_dir: Path, container: str, output: str) -> dict[str, Any]:
        files = ContainerLogFiles(logs_dir, container)
        files.create()
        files.current.write_text(cri_log(output))
        return PodApi.logs_entry(files)

    def prepare(
        self,
        pod: client.V1Pod,
        node: SimNodeRuntime,
        envs: dict[str, dict[str, str]],
        plugin_note: str | None,
    ) -> bool:
        """Wire exec and logs, run a run-to-completion command; False if the pod went away.

        `envs` holds each container's env (devices included); `plugin_note`, for a device-plugin
        pod without a real binary, is what its log says instead.
        """
        meta = pod.metadata
        run_to_completion = pod.spec.restart_policy in ("Never", "OnFailure")
        logs_dir = self.api.pod_logs_dir(pod)
        log_entries = []
        exit_code = 0
        exec_env: dict[str, str] = {}
        init_failed: tuple[str, int] | None = None
        # Init containers run to completion, in order, before the pod's containers; the first
        # that fails stops the pod there (kubelet; restartPolicy Never/OnFailure pods only).
        for container in pod.spec.init_containers or []:
            output, code = "", 0
            if init_failed is None and not plugin_note:
                env = self.map_host_root(envs[container.name], pod, node)
                output, code = self.simulate_command(container, env)
                if code != 0 and run_to_completion:
                    init_failed = (container.name, code)
            log_entries.append(self._write_log(logs_dir, container.name, output))
        for container in pod.spec.containers:
            env = self.map_host_root(envs[container.name], pod, node)
            exec_env = exec_env or env
            if plugin_note:
                output = plugin_note
            elif run_to_completion and init_failed is None:
                output, code = self.simulate_command(container, env)
                exit_code = exit_code or code
            else:
                output = ""
            log_entries.append(self._write_log(logs_dir, container.name, output))
        self.api.wire_exec(pod, exec_env)
        self.api.apply_kwok_object("logs", pod, {"logs": log_entries})
        if not self.api.confirm_logs_served(pod):
            return False
        annotations = {ANNOTATION_PREPARED: "true"}
        if init_failed is not None:
            annotations[ANNOTATION_INIT_FAILED] = init_failed[0]
            annotations[ANNOTATION_INIT_EXIT_CODE] = str(init_failed[1])
        elif run_to_completion and not plugin_note:
            annotations[ANNOTATION_EXIT_CODE] = str(exit_code)
        if not self.api.annotate(pod, annotations):
            return False
        log.info("prepared pod %s/%s on %s", meta.namespace, meta.name, node.name)
        return True
