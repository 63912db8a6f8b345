"""The leak check: what on the cluster still carries this run's id, read-only.

Teardown (teardown.py) deletes from these same lists, so what it may delete and what the
leak check reports are one definition: the run-id label, the ledger's applied objects (still
carrying the run id) and the chart's kinds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubernetes.client.rest import ApiException

from gpuconform.kube import RUN_ID_LABEL
from gpuconform.ledger import AppliedObject
from gpuconform.wait import api_retry

if TYPE_CHECKING:
    from gpuconform.run import RunContext

# Kinds the leak check lists by run-id label. Pods, DaemonSets and namespaces are checked
# cluster-wide; what a chart renders besides, in the plugin's namespace (install mode), so
# the runner needs no cluster-wide read of Secrets.
CLUSTER_WIDE: list[tuple[str, str, str]] = [
    ("core", "list_namespace", "Namespace"),
    ("core", "list_pod_for_all_namespaces", "Pod"),
    ("apps", "list_daemon_set_for_all_namespaces", "DaemonSet"),
]
CLUSTER_WIDE_INSTALL: list[tuple[str, str, str]] = [
    ("rbac", "list_cluster_role", "ClusterRole"),
    ("rbac", "list_cluster_role_binding", "ClusterRoleBinding"),
]
IN_RELEASE_NAMESPACE: list[tuple[str, str, str]] = [
    ("core", "list_namespaced_config_map", "ConfigMap"),
    ("core", "list_namespaced_secret", "Secret"),
    ("core", "list_namespaced_service_account", "ServiceAccount"),
    ("core", "list_namespaced_service", "Service"),
    ("rbac", "list_namespaced_role", "Role"),
    ("rbac", "list_namespaced_role_binding", "RoleBinding"),
]
# Every kind the lists above cover; the chart's other kinds are listed through the dynamic client.
LISTED_KINDS = {kind for _, _, kind in CLUSTER_WIDE + CLUSTER_WIDE_INSTALL + IN_RELEASE_NAMESPACE}

# (kind, namespace, name) of an object found by label.
Found = tuple[str, str | None, str]


def leaks(ctx: RunContext) -> list[str]:
    """Everything on the cluster that still carries this run's id, as `Kind ns/name`."""
    found = [
        f"{kind} {namespace + '/' if namespace else ''}{name}"
        for kind, namespace, name in labelled_objects(ctx)
    ]
    for obj in ctx.ledger.applied:
        try:
            if applied_exists(ctx, obj):
                found.append(obj.describe())
        except Exception as err:  # cannot tell: say so rather than claim it is gone
            found.append(f"{obj.describe()} (unknown: {str(err).splitlines()[0]})")
    return list(dict.fromkeys(found))


def labelled_objects(ctx: RunContext) -> list[Found]:
    """(kind, namespace, name) of everything still carrying this run's id."""
    found = labelled_listed(ctx)
    if ctx.profile.mode == "install":
        found += [(o.kind, o.namespace, o.name) for o in labelled_chart_objects(ctx)]
    return found


def labelled_listed(ctx: RunContext, kinds: set[str] | None = None) -> list[Found]:
    """(kind, namespace, name) of the kinds listed by typed calls (the tables above); of
    `kinds` only, when given."""
    calls: list[tuple[str, str, str, dict[str, str]]] = [
        (api, method, kind, {}) for api, method, kind in CLUSTER_WIDE
    ]
    if ctx.profile.mode == "install":
        calls += [(api, method, kind, {}) for api, method, kind in CLUSTER_WIDE_INSTALL]
        namespace = {"namespace": ctx.profile.namespace}
        calls += [(api, method, kind, namespace) for api, method, kind in IN_RELEASE_NAMESPACE]
    found = []
    for api_name, method, kind, scope in calls:
        if kinds is not None and kind not in kinds:
            continue
        api = getattr(ctx.kube, api_name)
        listing = api_retry(getattr(api, method))(label_selector=ctx.identity.selector, **scope)
        found += [(kind, obj.metadata.namespace, obj.metadata.name) for obj in listing.items]
    return found


def labelled_chart_objects(ctx: RunContext) -> list[AppliedObject]:
    """Objects of the chart's other kinds (e.g. GFD's Deployments and Jobs) that carry
    this run's id, in the release namespace or cluster-wide."""
    found: list[AppliedObject] = []
    for api_version, kind in sorted(ctx.ledger.chart_kinds):
        if kind in LISTED_KINDS:
            continue
        try:
            resource = ctx.kube.resource(api_version, kind)
            namespace = ctx.profile.namespace if resource.namespaced else None
            selector = ctx.identity.selector
            items = resource.get(namespace=namespace, label_selector=selector).items
        except Exception as err:  # not served, or not ours to list: say so, go on
            ctx.progress(f"cannot list {kind} for the leak check: {str(err).splitlines()[0]}")
            continue
        found += [
            AppliedObject(api_version, kind, item.metadata.namespace, item.metadata.name)
            for item in items
        ]
    return found


def read_owned(ctx: RunContext, obj: AppliedObject) -> Any | None:
    """The applied object as it is now, if it still exists and is still this run's (an
    object someone recreated under the same name without the run id is not)."""
    try:
        found = applied_resource(ctx, obj).get(name=obj.name, namespace=obj.namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    labels = (found.metadata.labels or {}) if found.metadata else {}
    return found if labels.get(RUN_ID_LABEL) == ctx.identity.run_id else None


def applied_exists(ctx: RunContext, obj: AppliedObject) -> bool:
    return read_owned(ctx, obj) is not None


def applied_resource(ctx: RunContext, obj: AppliedObject) -> Any:
    """The dynamic client's resource for an applied object's kind."""
    return ctx.kube.resource(obj.api_version, obj.kind)
