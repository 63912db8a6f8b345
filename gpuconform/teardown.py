"""Teardown: delete what this run created, and only that.

Every delete here is of an object selected by this run's id label (leak_check.py's lists) or
recorded in the ledger and read back still carrying the run id (`leak_check.read_owned`,
then a delete conditional on the uid just read). Nothing is selected by name or prefix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubernetes.client.rest import ApiException

from gpuconform.leak_check import (
    applied_resource,
    labelled_chart_objects,
    labelled_listed,
    read_owned,
)
from gpuconform.ledger import AppliedObject
from gpuconform.wait import wait_for

if TYPE_CHECKING:
    from gpuconform.run import RunContext

# Besides pods and namespaces, what teardown deletes by run-id label in install mode: what
# NVIDIA's chart renders, which an interrupted `helm install` can leave without a release to
# uninstall. (delete method, namespaced); only kinds the runner's RBAC may delete.
DELETED_BY_LABEL: dict[str, tuple[str, str, bool]] = {
    "ClusterRole": ("rbac", "delete_cluster_role", False),
    "ClusterRoleBinding": ("rbac", "delete_cluster_role_binding", False),
    "DaemonSet": ("apps", "delete_namespaced_daemon_set", True),
    "ServiceAccount": ("core", "delete_namespaced_service_account", True),
    "Secret": ("core", "delete_namespaced_secret", True),
}


def delete_created(ctx: RunContext, timeout_s: float = 120) -> None:
    """Delete what this run created, selecting only on its run-id label, and wait."""
    core, selector = ctx.kube.core, ctx.identity.selector
    # Namespaces first: the namespace controller starts on a deleted namespace only 5 s after
    # the delete (`namespaceDeletionGracePeriod = 5 * time.Second`, https://github.com/
    # kubernetes/kubernetes/blob/master/pkg/controller/namespace/namespace_controller.go),
    # and the wait below is for that.
    for ns in core.list_namespace(label_selector=selector).items:
        if ns.metadata.deletion_timestamp is None:  # the uninstall step's is going already
            _ignore_404(core.delete_namespace, ns.metadata.name)
    for pod in core.list_pod_for_all_namespaces(label_selector=selector).items:
        _ignore_404(
            core.delete_namespaced_pod,
            pod.metadata.name,
            pod.metadata.namespace,
            grace_period_seconds=0,
        )
    if ctx.profile.mode == "install":
        _delete_chart_leftovers(ctx)
    clean_applied(ctx, timeout_s)
    _wait_none_labelled(ctx, core.list_namespace, "namespace", timeout_s)
    _wait_none_labelled(ctx, core.list_pod_for_all_namespaces, "pod", timeout_s)


def _wait_none_labelled(
    ctx: RunContext, list_fn: Callable[..., Any], noun: str, timeout_s: float
) -> None:
    """Wait until `list_fn` finds nothing with this run's id; WaitTimeout otherwise."""
    wait_for(
        list_fn,
        lambda items: (not items, f"{len(items)} {noun}(s) still terminating"),
        what=f"this run's {noun}s to be deleted",
        timeout_s=timeout_s,
        progress=ctx.progress,
        label_selector=ctx.identity.selector,
    )


def _delete_chart_leftovers(ctx: RunContext) -> None:
    """Chart objects with this run's id outside a namespace the run deletes anyway."""
    for obj in labelled_chart_objects(ctx):
        try:
            delete_applied(ctx, obj)
        except ApiException as err:
            ctx.progress(f"cannot delete {obj.describe()}: {err.status} {err.reason}")
    # Only the kinds teardown may delete are listed here; leaks() lists every kind after.
    for kind, namespace, name in labelled_listed(ctx, kinds=set(DELETED_BY_LABEL)):
        api_name, method, namespaced = DELETED_BY_LABEL[kind]
        delete = getattr(getattr(ctx.kube, api_name), method)
        args = (name, namespace) if namespaced else (name,)
        try:
            _ignore_404(delete, *args)
        except ApiException as err:
            if err.status != 403:
                raise
            ctx.progress(f"cannot delete {kind} {name}: forbidden (the leak check names it)")


def delete_applied(ctx: RunContext, obj: AppliedObject) -> bool:
    """Delete an applied object if it is still this run's; True if a delete was sent.

    The delete is conditional on the uid just read: an object someone else recreated under
    the same name in the meantime is never touched.
    """
    found = read_owned(ctx, obj)
    if found is None:  # never delete what this run did not create
        return False
    try:
        applied_resource(ctx, obj).delete(
            name=obj.name,
            namespace=obj.namespace,
            body={"preconditions": {"uid": found.metadata.uid}},
        )
    except ApiException as err:
        if err.status not in (404, 409):  # gone already, or no longer the one we read
            raise
    return True


def wait_applied_gone(ctx: RunContext, obj: AppliedObject, timeout_s: float) -> bool:
    """Watch the object (from the version just read, so no deletion is missed) until it is
    deleted; False if it is still there after `timeout_s`.

    Not `wait.wait_for`: that one lists through the typed client, and an applied object may
    be of any kind, served only to the dynamic client.
    """
    deadline = time.monotonic() + timeout_s
    while (found := read_owned(ctx, obj)) is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        for event in applied_resource(ctx, obj).watch(
            namespace=obj.namespace,
            name=obj.name,
            resource_version=found.metadata.resourceVersion,
            timeout=max(1, int(min(remaining, 10))),
        ):
            if event["type"] == "DELETED":
                return True
    return True


def clean_applied(ctx: RunContext, timeout_s: float) -> None:
    """Teardown of applied objects: delete each and wait for it; a failure on one (no
    permission, a kind no longer served) is reported and the others still go."""
    for obj in reversed(ctx.ledger.applied):
        try:
            if delete_applied(ctx, obj) and not wait_applied_gone(ctx, obj, timeout_s):
                ctx.progress(f"{obj.describe()} still there {timeout_s:.0f}s after delete")
        except Exception as err:  # the leak check names what is left
            ctx.progress(f"cannot delete {obj.describe()}: {str(err).splitlines()[0]}")


def _ignore_404(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except ApiException as err:
        if err.status != 404:
            raise
