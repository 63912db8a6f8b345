"""What the SIMULATED kubelet writes about a pod through the API: KWOK's Exec and Logs
objects, annotations, status, events, and the final deletion of a terminated pod."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from gpuconform.sim.kubelet.logs import ContainerLogFiles
from gpuconform.sim.kubelet.pod_status import admission_failure_status, pod_event
from gpuconform.sim.kubelet.runtime import ContainerStatus, now_rfc3339
from gpuconform.sim.nodes import SIM

log = logging.getLogger("gpuconform.sim.agent")

ANNOTATION_PULL_FAILED = SIM + "image-pull-failed"
KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"
# Bound on KWOK picking up a new Logs object (normally well under a second).
LOGS_SERVED_TIMEOUT_S = 60


class PodApi:
    """The simulated kubelet's writes about pods, and where a pod's files live."""

    def __init__(self, core: client.CoreV1Api, custom: client.CustomObjectsApi, state_dir: Path):
        self.core = core
        self.custom = custom
        self.state_dir = state_dir
        self.backoffs_recorded: dict[tuple[str, str], int] = {}

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

    def fail_image_pull(self, pod: client.V1Pod, node_name: str, image: str) -> None:
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
            meta.namespace, pod_event(pod, "Failed", message, node_name)
        )
        log.info(
            "pod %s/%s: image %s not in the simulated registry", meta.namespace, meta.name, image
        )

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

    def fail_admission(self, pod: client.V1Pod, node_name: str, message: str) -> None:
        """kubelet's admission failed (the plugin's Allocate): the pod fails, never starts."""
        meta = pod.metadata
        self.core.patch_namespaced_pod_status(
            meta.name,
            meta.namespace,
            {"status": admission_failure_status("UnexpectedAdmissionError", message)},
        )
        self.core.create_namespaced_event(
            meta.namespace, pod_event(pod, "UnexpectedAdmissionError", message, node_name)
        )
        log.info("pod %s/%s: admission failed: %s", meta.namespace, meta.name, message)

    def record_backoff(self, pod: client.V1Pod, node_name: str, status: ContainerStatus):
        """kubelet's BackOff event, counted up once per restart (one Event per container)."""
        meta = pod.metadata
        key = (meta.uid, status.name)
        if self.backoffs_recorded.get(key) == status.restart_count:
            return
        self.backoffs_recorded[key] = status.restart_count
        name = f"{meta.name}.backoff-{status.name}"
        message = (
            f"Back-off restarting failed container {status.name} in pod "
            f"{meta.name}_{meta.namespace}({meta.uid})"
        )
        try:
            event = self.core.read_namespaced_event(name, meta.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            field_path = f"spec.containers{{{status.name}}}"
            body = pod_event(pod, "BackOff", message, node_name, field_path=field_path, name=name)
            self.core.create_namespaced_event(meta.namespace, body)
            return
        patch = {"count": (event.count or 1) + 1, "lastTimestamp": now_rfc3339()}
        self.core.patch_namespaced_event(name, meta.namespace, patch)
