"""One conformance run: its id, its clients, what it created, and how it cleans up.

Ownership is recorded, never inferred from names: everything the run creates carries the
`gpuconform.io/run-id` label, and cleanup and the leak check select on that label alone.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from gpuconform.facts import RunFacts
from gpuconform.helm import Helm
from gpuconform.kube import RUN_ID_LABEL, Kube
from gpuconform.profile import Profile
from gpuconform.wait import api_retry, wait_for

if TYPE_CHECKING:
    from gpuconform.fleet import Fleet

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


# PodSecurity admission: the level a namespace enforces (Kubernetes' built-in admission).
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


@dataclass(frozen=True)
class AppliedObject:
    """An object the run created itself (a static manifest's), wherever it lives."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def describe(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass
class RunContext:
    profile: Profile
    kube: Kube
    helm: Helm | None
    run_id: str
    report_dir: Path
    progress: Callable[[str], None]
    server_version: str = ""
    created_namespaces: list[str] = field(default_factory=list)
    facts: RunFacts = field(default_factory=RunFacts)
    # Objects applied by the run (static manifests): any kind, any namespace. Teardown and the
    # leak check cover each of them, whatever the label-based lists below know of.
    applied: list[AppliedObject] = field(default_factory=list)
    # (apiVersion, kind) of everything the chart renders (the session gate's helm template):
    # teardown and the leak check cover those kinds too, in the release namespace or
    # cluster-wide, whether or not an interrupted install left helm a record of them.
    chart_kinds: set[tuple[str, str]] = field(default_factory=set)
    # Diagnostics evidence gathered once per run and reused by later failures (node probes).
    evidence_cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Test pods created to be refused (workload.create_gpu_pod's expect_failure), by name:
    # diagnostics ignore their events, which outlive the pods.
    expected_failure_pods: set[str] = field(default_factory=set)
    # The GPU node pools and their nodes, found by the session gate (gpuconform/fleet.py).
    fleet: Fleet | None = None

    @property
    def selector(self) -> str:
        return f"{RUN_ID_LABEL}={self.run_id}"

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_ID_LABEL: self.run_id}

    @property
    def workload_namespace(self) -> str:
        return f"gpuconform-{self.run_id}"

    @property
    def probe_namespace(self) -> str:
        """Where privileged node probes run: apart from the (hardened) workload namespace."""
        return f"gpuconform-{self.run_id}-probe"

    def ensure_workload_namespace(self) -> None:
        if self.ensure_namespace(self.workload_namespace, self.profile.workload_pod.pod_security):
            self.copy_pull_secrets(self.workload_namespace)

    def copy_pull_secrets(self, namespace: str) -> None:
        """The profile's image pull secrets, from the plugin's namespace into one the run
        created (a Secret is namespaced; the run's namespaces are new), with the run id."""
        core = self.kube.core
        for name in self.profile.workload_pod.image_pull_secrets:
            source = core.read_namespaced_secret(name, self.profile.namespace)
            core.create_namespaced_secret(
                namespace,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=name, labels=self.labels),
                    type=source.type,
                    data=source.data,
                ),
            )

    def ensure_namespace(self, name: str, pod_security: str | None = None) -> bool:
        """Create the namespace (labelled with the run id and, if given, the PodSecurity level
        it enforces) unless it exists; True if created."""
        try:
            self.kube.core.read_namespace(name)
            return False
        except ApiException as err:
            if err.status != 404:
                raise
        labels = self.labels | ({POD_SECURITY_ENFORCE: pod_security} if pod_security else {})
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
        self.kube.core.create_namespace(body)
        self.created_namespaces.append(name)
        return True

    def delete_created(self, timeout_s: float = 120) -> None:
        """Delete what this run created, selecting only on its run-id label, and wait."""
        core = self.kube.core
        for pod in core.list_pod_for_all_namespaces(label_selector=self.selector).items:
            _ignore_404(
                core.delete_namespaced_pod,
                pod.metadata.name,
                pod.metadata.namespace,
                grace_period_seconds=0,
            )
        for ns in core.list_namespace(label_selector=self.selector).items:
            _ignore_404(core.delete_namespace, ns.metadata.name)
        if self.profile.mode == "install":
            self._delete_chart_leftovers()
        self.clean_applied(timeout_s)
        wait_for(
            core.list_namespace,
            lambda items: (not items, f"{len(items)} namespace(s) still terminating"),
            what="this run's namespaces to be deleted",
            timeout_s=timeout_s,
            progress=self.progress,
            label_selector=self.selector,
        )
        wait_for(
            core.list_pod_for_all_namespaces,
            lambda items: (not items, f"{len(items)} pod(s) still terminating"),
            what="this run's pods to be deleted",
            timeout_s=timeout_s,
            progress=self.progress,
            label_selector=self.selector,
        )

    def _delete_chart_leftovers(self) -> None:
        """Chart objects with this run's id outside a namespace the run deletes anyway."""
        for obj in self._labelled_chart_objects():
            try:
                self.delete_applied(obj)
            except ApiException as err:
                self.progress(f"cannot delete {obj.describe()}: {err.status} {err.reason}")
        # Only the kinds teardown may delete are listed here; leaks() lists every kind after.
        for kind, namespace, name in self._labelled_listed(kinds=set(DELETED_BY_LABEL)):
            api_name, method, namespaced = DELETED_BY_LABEL[kind]
            delete = getattr(getattr(self.kube, api_name), method)
            args = (name, namespace) if namespaced else (name,)
            try:
                _ignore_404(delete, *args)
            except ApiException as err:
                if err.status != 403:
                    raise
                self.progress(f"cannot delete {kind} {name}: forbidden (the leak check names it)")

    def _labelled_objects(self) -> list[tuple[str, str | None, str]]:
        """(kind, namespace, name) of everything still carrying this run's id."""
        found = self._labelled_listed()
        if self.profile.mode == "install":
            found += [(o.kind, o.namespace, o.name) for o in self._labelled_chart_objects()]
        return found

    def _labelled_listed(self, kinds: set[str] | None = None) -> list[tuple[str, str | None, str]]:
        """(kind, namespace, name) of the kinds listed by typed calls (the tables above); of
        `kinds` only, when given."""
        calls: list[tuple[str, str, str, dict[str, str]]] = [
            (api, method, kind, {}) for api, method, kind in CLUSTER_WIDE
        ]
        if self.profile.mode == "install":
            calls += [(api, method, kind, {}) for api, method, kind in CLUSTER_WIDE_INSTALL]
            namespace = {"namespace": self.profile.namespace}
            calls += [(api, method, kind, namespace) for api, method, kind in IN_RELEASE_NAMESPACE]
        found = []
        for api_name, method, kind, scope in calls:
            if kinds is not None and kind not in kinds:
                continue
            api = getattr(self.kube, api_name)
            listing = api_retry(getattr(api, method))(label_selector=self.selector, **scope)
            found += [(kind, obj.metadata.namespace, obj.metadata.name) for obj in listing.items]
        return found

    def _labelled_chart_objects(self) -> list[AppliedObject]:
        """Objects of the chart's other kinds (e.g. GFD's Deployments and Jobs) that carry
        this run's id, in the release namespace or cluster-wide."""
        found: list[AppliedObject] = []
        for api_version, kind in sorted(self.chart_kinds):
            if kind in LISTED_KINDS:
                continue
            try:
                resource = self.kube.resource(api_version, kind)
                namespace = self.profile.namespace if resource.namespaced else None
                items = resource.get(namespace=namespace, label_selector=self.selector).items
            except Exception as err:  # not served, or not ours to list: say so, go on
                self.progress(f"cannot list {kind} for the leak check: {str(err).splitlines()[0]}")
                continue
            found += [
                AppliedObject(api_version, kind, item.metadata.namespace, item.metadata.name)
                for item in items
            ]
        return found

    def leaks(self) -> list[str]:
        """Everything on the cluster that still carries this run's id, as `Kind ns/name`."""
        found = [
            f"{kind} {namespace + '/' if namespace else ''}{name}"
            for kind, namespace, name in self._labelled_objects()
        ]
        for obj in self.applied:
            try:
                if self.applied_exists(obj):
                    found.append(obj.describe())
            except Exception as err:  # cannot tell: say so rather than claim it is gone
                found.append(f"{obj.describe()} (unknown: {str(err).splitlines()[0]})")
        return list(dict.fromkeys(found))

    def _resource(self, obj: AppliedObject) -> Any:
        return self.kube.resource(obj.api_version, obj.kind)

    def _get_applied(self, obj: AppliedObject) -> Any | None:
        """The applied object as it is now, if it still exists and is still this run's."""
        try:
            found = self._resource(obj).get(name=obj.name, namespace=obj.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        labels = (found.metadata.labels or {}) if found.metadata else {}
        return found if labels.get(RUN_ID_LABEL) == self.run_id else None

    def applied_exists(self, obj: AppliedObject) -> bool:
        return self._get_applied(obj) is not None

    def wait_applied_gone(self, obj: AppliedObject, timeout_s: float) -> bool:
        """Watch the object (from the version just read, so no deletion is missed) until it is
        deleted; False if it is still there after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while (found := self._get_applied(obj)) is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for event in self._resource(obj).watch(
                namespace=obj.namespace,
                name=obj.name,
                resource_version=found.metadata.resourceVersion,
                timeout=max(1, int(min(remaining, 10))),
            ):
                if event["type"] == "DELETED":
                    return True
        return True

    def delete_applied(self, obj: AppliedObject) -> bool:
        """Delete an applied object if it is still this run's; True if a delete was sent.

        The delete is conditional on the uid just read: an object someone else recreated under
        the same name in the meantime is never touched.
        """
        found = self._get_applied(obj)
        if found is None:  # never delete what this run did not create
            return False
        try:
            self._resource(obj).delete(
                name=obj.name,
                namespace=obj.namespace,
                body={"preconditions": {"uid": found.metadata.uid}},
            )
        except ApiException as err:
            if err.status not in (404, 409):  # gone already, or no longer the one we read
                raise
        return True

    def clean_applied(self, timeout_s: float) -> None:
        """Teardown of applied objects: delete each and wait for it; a failure on one (no
        permission, a kind no longer served) is reported and the others still go."""
        for obj in reversed(self.applied):
            try:
                if self.delete_applied(obj) and not self.wait_applied_gone(obj, timeout_s):
                    self.progress(f"{obj.describe()} still there {timeout_s:.0f}s after delete")
            except Exception as err:  # the leak check names what is left
                self.progress(f"cannot delete {obj.describe()}: {str(err).splitlines()[0]}")


def _ignore_404(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except ApiException as err:
        if err.status != 404:
            raise
