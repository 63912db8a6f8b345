"""Who a run is: its id, the label that marks what it owns, and the namespaces it works in.

Ownership is recorded, never inferred from names: everything the run creates carries the
`gpuconform.io/run-id` label (`RunIdentity.labels`), and teardown and the leak check select on
that label alone (`RunIdentity.selector`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kubernetes import client
from kubernetes.client.rest import ApiException

from gpuconform.kube import RUN_ID_LABEL

if TYPE_CHECKING:
    from gpuconform.run import RunContext

# PodSecurity admission: the level a namespace enforces (Kubernetes' built-in admission).
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


def new_run_id(now: datetime | None = None) -> str:
    """A timestamp (sortable; the history reads the start time from it) and 6 random hex
    digits, so two runs started in the same second never share an id."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunIdentity:
    """The run id and the names derived from it; nothing here talks to the cluster."""

    run_id: str

    @property
    def labels(self) -> dict[str, str]:
        """The label every object this run creates carries."""
        return {RUN_ID_LABEL: self.run_id}

    @property
    def selector(self) -> str:
        """The label selector for everything this run created, and nothing else."""
        return f"{RUN_ID_LABEL}={self.run_id}"

    @property
    def workload_namespace(self) -> str:
        return f"gpuconform-{self.run_id}"

    @property
    def probe_namespace(self) -> str:
        """Where privileged node probes run: apart from the (hardened) workload namespace."""
        return f"gpuconform-{self.run_id}-probe"


def ensure_namespace(ctx: RunContext, name: str, pod_security: str | None = None) -> bool:
    """Create the namespace (labelled with the run id and, if given, the PodSecurity level
    it enforces) unless it exists; True if created, and then recorded in the ledger.

    A namespace that exists already is left unlabelled: it is not this run's to delete.
    """
    try:
        ctx.kube.core.read_namespace(name)
        return False
    except ApiException as err:
        if err.status != 404:
            raise
    pod_security_label = {POD_SECURITY_ENFORCE: pod_security} if pod_security else {}
    labels = ctx.identity.labels | pod_security_label
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    ctx.kube.core.create_namespace(body)
    ctx.ledger.namespaces.append(name)
    return True


def copy_pull_secrets(ctx: RunContext, namespace: str) -> None:
    """The profile's image pull secrets, from the plugin's namespace into one the run
    created (a Secret is namespaced; the run's namespaces are new), with the run id."""
    core = ctx.kube.core
    for name in ctx.profile.workload_pod.image_pull_secrets:
        source = core.read_namespaced_secret(name, ctx.profile.namespace)
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=name, labels=ctx.identity.labels),
                type=source.type,
                data=source.data,
            ),
        )


def ensure_workload_namespace(ctx: RunContext) -> None:
    """The workload namespace at the profile's PodSecurity level, with the pull secrets the
    test pods need (copied only into a namespace this call created)."""
    namespace = ctx.identity.workload_namespace
    if ensure_namespace(ctx, namespace, ctx.profile.workload_pod.pod_security):
        copy_pull_secrets(ctx, namespace)


def ensure_probe_namespace(ctx: RunContext) -> None:
    """The node probes' namespace: "privileged", since a probe reads the host."""
    if ensure_namespace(ctx, ctx.identity.probe_namespace, "privileged"):
        copy_pull_secrets(ctx, ctx.identity.probe_namespace)
