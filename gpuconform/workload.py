"""GPU test pods: create from manifests/gpu-pod.yaml, wait until they finish, read the outcome."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.rest import ApiException

from gpuconform.conditions import is_ready
from gpuconform.identity import ensure_workload_namespace
from gpuconform.readiness import own_pod_stuck_reason
from gpuconform.run import RunContext
from gpuconform.wait import wait_for

MANIFESTS = Path(__file__).with_name("manifests")
# `nvidia-smi -L` lines: "GPU 0: NVIDIA H200 (UUID: GPU-...)".
# Marks a pod the suite expects to fail (the over-request check), so diagnostics of an
# unrelated failure do not blame its FailedScheduling events.
EXPECTED_FAILURE = "gpuconform.io/expected-failure"


def is_expected_failure(pod: Any) -> bool:
    """A test pod the suite runs to be refused or to see no GPU: no evidence of a fault."""
    return (pod.metadata.annotations or {}).get(EXPECTED_FAILURE) == "true"


GPU_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[0-9a-f-]+)\)", re.MULTILINE)


@cache
def manifest(name: str) -> dict[str, Any]:
    return yaml.safe_load((MANIFESTS / name).read_text())


@dataclass(frozen=True)
class PodOutcome:
    name: str
    node: str | None
    phase: str
    exit_code: int | None
    logs: str
    # The init container's `nvidia-smi -L` (None when the pod had no listing container), and
    # its exit code: the GPUs the pod's container got (kubelet hands it the same devices).
    listing: str | None = None
    listing_exit_code: int | None = None

    @property
    def gpu_uuids(self) -> list[str]:
        return [m.group(3) for m in GPU_LINE.finditer(self.logs)]

    @property
    def listed_uuids(self) -> list[str]:
        return [m.group(3) for m in GPU_LINE.finditer(self.listing or "")]

    def report_text(self) -> str:
        """What the pod printed, as the report shows it: its listing first, if it had one."""
        where = f"pod {self.name} on {self.node or 'no node'}"
        text = ""
        if self.listing is not None:
            text += (
                f"{LISTING_CONTAINER} (nvidia-smi -L), {where}, exit {self.listing_exit_code}:\n"
            )
            text += self.listing.rstrip("\n") + "\n"
        text += f"workload, {where}, {self.phase}, exit {self.exit_code}:\n{self.logs}"
        return text


def apply_pod_settings(body: dict[str, Any], ctx: RunContext, placement: bool = True) -> None:
    """The profile's workload.* settings on a pod the suite creates: tolerations and pull
    secrets always; node selector and runtime class where the pod's placement is the suite's
    to choose (not for a node probe, which is bound to the node it examines)."""
    settings = ctx.profile.workload_pod
    spec = body["spec"]
    spec["tolerations"] = [*(spec.get("tolerations") or []), *settings.tolerations]
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    if not placement:
        return
    if settings.node_selector:
        spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **settings.node_selector}
    if settings.runtime_class:
        spec["runtimeClassName"] = settings.runtime_class


def pin_to_nodes(body: dict[str, Any], nodes: list[str]) -> None:
    """Only these nodes may run the pod, by name, so no label of another pool can satisfy it
    (a node field selector takes one value per term; terms are ORed)."""
    terms = [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        for node in sorted(nodes)
    ]
    body["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


# An init container that lists the pod's GPUs before the workload runs: kubelet gives the
# pod's container the devices its init container had (device manager reuse), so this is the
# GPU set the workload sees, whatever the workload image prints.
LISTING_CONTAINER = "gpu-list"


def listing_container(workload: dict[str, Any]) -> dict[str, Any]:
    """The init container: the workload's image, GPUs and security, running nvidia-smi -L."""
    return {
        "name": LISTING_CONTAINER,
        "image": workload["image"],
        "command": ["nvidia-smi", "-L"],
        # `utility` makes the NVIDIA runtime mount nvidia-smi into the container.
        "env": [{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"}],
        "resources": copy.deepcopy(workload["resources"]),
        "securityContext": copy.deepcopy(workload.get("securityContext")),
    }


def gpu_pod_body(
    ctx: RunContext,
    name: str,
    gpus: int,
    command: list[str] | None,
    restart: str = "Never",
    nodes: list[str] | None = None,
    list_gpus: bool = False,
    resource: str | None = None,
) -> dict[str, Any]:
    body = copy.deepcopy(manifest("gpu-pod.yaml"))
    body["metadata"]["name"] = name
    body["metadata"]["namespace"] = ctx.identity.workload_namespace
    body["metadata"]["labels"] |= ctx.identity.labels
    body["spec"]["restartPolicy"] = restart
    apply_pod_settings(body, ctx)
    if nodes:
        pin_to_nodes(body, nodes)
    settings = ctx.profile.workload_pod
    container = body["spec"]["containers"][0]
    container["image"] = ctx.profile.workload_image
    if settings.security_context is not None:
        container["securityContext"] = settings.security_context
    if command:
        container["command"] = list(command)
    container["resources"] = copy.deepcopy(settings.resources)
    if gpus:
        limits = container["resources"].setdefault("limits", {})
        limits[resource or ctx.profile.gpu_resource] = str(gpus)
    if list_gpus and gpus:
        body["spec"]["initContainers"] = [listing_container(container)]
    return body


class AdmissionRejected(AssertionError):
    """The API server's admission (PodSecurity, a policy webhook) refused a test pod."""


def create_gpu_pod(
    ctx: RunContext,
    name: str,
    gpus: int,
    command: list[str] | None,
    restart: str = "Never",
    expect_failure: bool = False,
    nodes: list[str] | None = None,
    list_gpus: bool = False,
    resource: str | None = None,
) -> None:
    """A test pod in the run's namespace, pinned to `nodes` when given; restart="Always" for
    one that keeps running; `list_gpus` lists its GPUs first (LISTING_CONTAINER); `resource`
    is what it asks for (default: the first pool's, Profile.gpu_resource). An admission
    refusal is one line with the policy's message."""
    ensure_workload_namespace(ctx)
    body = gpu_pod_body(ctx, name, gpus, command, restart, nodes, list_gpus, resource)
    if expect_failure:
        body["metadata"]["annotations"][EXPECTED_FAILURE] = "true"
        # Remembered by name too: its events outlive the pod (and its annotation).
        ctx.expected_failure_pods.add(name)
    try:
        ctx.kube.core.create_namespaced_pod(ctx.identity.workload_namespace, body)
    except ApiException as err:
        if err.status in (400, 403, 422):
            raise AdmissionRejected(
                f"the API server refused test pod {name}: {api_message(err)}"
            ) from None
        raise


def api_message(err: ApiException) -> str:
    """The Status message of an API error (the policy's own words), else its reason."""
    try:
        return json.loads(err.body or "{}").get("message") or str(err.reason)
    except ValueError:
        return str(err.reason)


def _wait_test_pod(
    ctx: RunContext,
    name: str,
    judge: Callable[[Any], tuple[bool, str]],
    what: str,
    timeout_s: float,
    namespace: str | None = None,
) -> Any:
    """Wait until `judge(pod)` holds for the run's test pod `name`; return the pod."""
    namespace = namespace or ctx.identity.workload_namespace
    key = f"{namespace}/{name}"

    def condition(pods: dict[str, Any]) -> tuple[bool, str]:
        pod = pods.get(key)
        return (False, "pod not found") if pod is None else judge(pod)

    pods = wait_for(
        ctx.kube.core.list_namespaced_pod,
        condition,
        what=what,
        timeout_s=timeout_s,
        progress=ctx.progress,
        namespace=namespace,
        field_selector=f"metadata.name={name}",
    )
    return pods[key]


def _fail_if_stuck(pod: Any, name: str) -> None:
    """A pod of the run that no wait will start ends the wait with its reason."""
    if stuck := own_pod_stuck_reason(pod):
        raise AssertionError(f"pod {name} on {pod.spec.node_name} cannot start: {stuck}")


def wait_pod_running(ctx: RunContext, name: str, timeout_s: float) -> None:
    """Wait until the pod is Running and Ready."""

    def running(pod: Any) -> tuple[bool, str]:
        _fail_if_stuck(pod, name)
        return pod.status.phase == "Running" and is_ready(pod), pod.status.phase or "unknown"

    _wait_test_pod(ctx, name, running, f"pod {name} to run", timeout_s)


def wait_pod_finished(
    ctx: RunContext, name: str, timeout_s: float, namespace: str | None = None
) -> PodOutcome:
    """Wait for the pod to Succeed or Fail; a pod stuck Pending times out with its reason."""

    def finished(pod: Any) -> tuple[bool, str]:
        phase = pod.status.phase
        if phase in ("Succeeded", "Failed"):
            return True, phase
        _fail_if_stuck(pod, name)
        reason = pending_reason(pod)
        return False, f"{phase}{': ' + reason if reason else ''}"

    namespace = namespace or ctx.identity.workload_namespace
    pod = _wait_test_pod(ctx, name, finished, f"pod {name} to finish", timeout_s, namespace)
    statuses = pod.status.container_statuses or []
    terminated = statuses[0].state.terminated if statuses and statuses[0].state else None
    listing, listing_exit = None, None
    inits = [c.name for c in pod.spec.init_containers or []]
    if LISTING_CONTAINER in inits:
        listing = _log(ctx, name, namespace, LISTING_CONTAINER)
        for status in pod.status.init_container_statuses or []:
            if status.name == LISTING_CONTAINER and status.state and status.state.terminated:
                listing_exit = status.state.terminated.exit_code
    return PodOutcome(
        name=name,
        node=pod.spec.node_name,
        phase=pod.status.phase,
        exit_code=terminated.exit_code if terminated else None,
        logs=_log(ctx, name, namespace, pod.spec.containers[0].name),
        listing=listing,
        listing_exit_code=listing_exit,
    )


def _log(ctx: RunContext, pod: str, namespace: str, container: str) -> str:
    """A container's log; empty for one that never started (kubelet answers 400 while it
    waits, e.g. PodInitializing after a failed init container)."""
    try:
        return ctx.kube.core.read_namespaced_pod_log(pod, namespace, container=container)
    except ApiException as err:
        if err.status == 400:
            return ""
        raise


def pending_reason(pod: Any) -> str:
    for cond in pod.status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            return f"{cond.reason}: {cond.message}"
    return ""


def wait_failed_scheduling(ctx: RunContext, name: str, timeout_s: float) -> str:
    """Wait for the scheduler's FailedScheduling event on the pod; return its message."""

    def has_event(events: dict[str, Any]) -> tuple[bool, str]:
        for event in events.values():
            if event.reason == "FailedScheduling":
                return True, event.message
        return False, "no FailedScheduling event yet"

    events = wait_for(
        ctx.kube.core.list_namespaced_event,
        has_event,
        what=f"the scheduler to reject pod {name}",
        timeout_s=timeout_s,
        progress=ctx.progress,
        namespace=ctx.identity.workload_namespace,
        field_selector=f"involvedObject.name={name},reason=FailedScheduling",
    )
    return next(e.message for e in events.values() if e.reason == "FailedScheduling")
