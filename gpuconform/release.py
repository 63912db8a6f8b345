"""The device plugin under test: install (helm or static manifest), find, uninstall.

In `install` mode the plugin DaemonSets are found through the release's own rendered
manifest, not by label alone; in `existing` mode they are found by what they run.
"""

from __future__ import annotations

import dataclasses
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import utils
from kubernetes.client.rest import ApiException

from gpuconform.helm import HelmError, release_objects
from gpuconform.identity import ensure_namespace
from gpuconform.ledger import AppliedObject
from gpuconform.post_render import label_objects
from gpuconform.profile import ChartSource, Profile
from gpuconform.readiness import is_plugin_daemonset, plugin_daemonset_names
from gpuconform.run import RunContext
from gpuconform.teardown import delete_applied, wait_applied_gone
from gpuconform.wait import wait_for


class ReleaseError(RuntimeError):
    """Installing or removing the plugin failed; one line saying why."""


def find_plugin_daemonsets(ctx: RunContext, namespace: str | None = None) -> list[Any]:
    """Device-plugin DaemonSets already on the cluster (any installer: helm, operator, kubectl)."""
    apps = ctx.kube.apps
    listing = (
        apps.list_namespaced_daemon_set(namespace)
        if namespace
        else apps.list_daemon_set_for_all_namespaces()
    )
    return [ds for ds in listing.items if is_plugin_daemonset(ds)]


def install_charts(profile: Profile) -> list[ChartSource]:
    """The charts a run installs: the target, preceded by --upgrade-from's version if given."""
    if profile.upgrade_from:
        target = dataclasses.replace(profile.chart, set=[*profile.chart.set, *profile.upgrade_set])
        return [dataclasses.replace(profile.chart, version=profile.upgrade_from), target]
    return [profile.chart]


def load_static_manifest(source: str) -> list[dict[str, Any]]:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:
            text = response.read().decode()
    else:
        path = Path(source)
        if not path.exists():
            raise ReleaseError(f"static manifest {source} not found")
        text = path.read_text()
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def placed(kube: Any, obj: dict[str, Any], default_namespace: str) -> tuple[Any, str | None]:
    """The served resource of a manifest object, and the namespace it goes to: its own, else
    the default; None for a cluster-scoped kind. ReleaseError for a kind the cluster lacks."""
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        resource = kube.resource(obj["apiVersion"], obj["kind"])
    except (ResourceNotFoundError, KeyError):
        raise ReleaseError(
            f"static manifest: this cluster does not serve {obj.get('kind')} "
            f"{obj.get('apiVersion')}"
        ) from None
    if not resource.namespaced:
        return resource, None
    return resource, obj["metadata"].get("namespace") or default_namespace


def manifest_objects(kube: Any, profile: Profile) -> list[tuple[str, str, str | None]]:
    """(resource, API group, namespace) of each object of the profile's static manifest, as
    the cluster serves it; ReleaseError (one line) for a manifest that cannot be read or a kind
    the cluster does not serve."""
    assert profile.chart.manifest is not None
    found = []
    for obj in load_static_manifest(profile.chart.manifest):
        resource, namespace = placed(kube, obj, profile.namespace)
        found.append((resource.name, resource.group or "", namespace))
    return found


@dataclass
class Release:
    ctx: RunContext
    installed: bool = False
    uninstalled: bool = False
    error: str | None = None
    namespace_created: bool = False
    daemonset_names: list[str] = field(default_factory=list)
    static_objects: list[AppliedObject] = field(default_factory=list)
    chart_installed: str | None = (
        None  # name-version helm reports, e.g. nvidia-device-plugin-0.18.0
    )

    @property
    def namespace(self) -> str:
        return self.ctx.profile.namespace

    @property
    def name(self) -> str:
        return self.ctx.profile.release_name

    def helm_sets(self) -> list[str]:
        """--set overrides of the run itself: pin the DaemonSet to the canary pool (--nodes)."""
        return [
            "nodeSelector." + key.replace(".", "\\.") + f"={value}"
            for key, value in self.ctx.profile.canary_node_selector().items()
        ]

    def install(self) -> None:
        """Install the plugin once; on failure remember the one-line reason and raise."""
        profile, ctx = self.ctx.profile, self.ctx
        chart = install_charts(profile)[0]
        ctx.progress(f"installing {chart.describe()} as {self.name} in {self.namespace}")
        try:
            if profile.chart.manifest:
                self._apply_static(profile.chart.manifest)
            else:
                # The chart's pods mount hostPath volumes: PodSecurity "privileged" admits them.
                self.namespace_created = ensure_namespace(ctx, self.namespace, "privileged")
                assert ctx.helm is not None
                result = ctx.helm.install(
                    self.name,
                    self.namespace,
                    chart,
                    ctx.identity.run_id,
                    profile.timeouts["install"],
                    self.helm_sets(),
                )
                self.installed = True
                meta = result["chart"]["metadata"]
                self.chart_installed = f"{meta['name']}-{meta['version']}"
                self.daemonset_names = plugin_daemonset_names(release_objects(result))
        except (HelmError, ReleaseError, ApiException) as err:
            self.error = _one_line(err)
            raise ReleaseError(self.error) from None
        if not self.daemonset_names:
            self.error = (
                "the chart rendered no device-plugin DaemonSet (no nvidia-device-plugin-ctr)"
            )
            raise ReleaseError(self.error)

    def upgrade(self) -> None:
        """helm upgrade to the profile's target chart version (pre-upgrade validation)."""
        ctx = self.ctx
        chart = install_charts(ctx.profile)[-1]
        ctx.progress(f"upgrading {self.name} to {chart.describe()}")
        assert ctx.helm is not None
        try:
            result = ctx.helm.upgrade(
                self.name,
                self.namespace,
                chart,
                ctx.identity.run_id,
                ctx.profile.timeouts["install"],
                self.helm_sets(),
            )
        except HelmError as err:
            raise ReleaseError(f"helm upgrade failed: {err}") from None
        meta = result["chart"]["metadata"]
        self.chart_installed = f"{meta['name']}-{meta['version']}"

    def _apply_static(self, source: str) -> None:
        """Create each object in its manifest's namespace (upstream's targets kube-system),
        or the profile's where the manifest names none; record each before creating it."""
        kube = self.ctx.kube
        objects = label_objects(load_static_manifest(source), self.ctx.identity.run_id)
        targets = [placed(kube, obj, self.namespace)[1] for obj in objects]
        own = {o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"}
        defaulted = any(
            ns is not None and not o["metadata"].get("namespace")
            for o, ns in zip(objects, targets, strict=True)
        )
        if defaulted and self.namespace not in own:
            # Objects without a namespace go to the profile's; the manifest's own Namespace
            # objects are created from the manifest.
            self.namespace_created = ensure_namespace(self.ctx, self.namespace, "privileged")
        for obj, namespace in zip(objects, targets, strict=True):
            applied = AppliedObject(
                obj["apiVersion"], obj["kind"], namespace, obj["metadata"]["name"]
            )
            self.ctx.ledger.applied.append(applied)  # first: an interrupted create is still cleaned
            utils.create_from_dict(kube.api_client, obj, namespace=namespace)
            self.static_objects.append(applied)
        self.installed = True
        self.daemonset_names = plugin_daemonset_names(objects)

    def daemonset_locations(self) -> list[tuple[str, str]]:
        """(namespace, name) of the plugin DaemonSets this run installed."""
        if self.static_objects:
            return [
                (o.namespace or self.namespace, o.name)
                for o in self.static_objects
                if o.kind == "DaemonSet" and o.name in self.daemonset_names
            ]
        return [(self.namespace, name) for name in self.daemonset_names]

    def daemonsets(self) -> list[Any]:
        """The plugin DaemonSets under test: this release's, or (existing mode) the cluster's."""
        if self.ctx.profile.mode == "existing":
            return find_plugin_daemonsets(self.ctx)
        apps = self.ctx.kube.apps
        return [apps.read_namespaced_daemon_set(n, ns) for ns, n in self.daemonset_locations()]

    def uninstall(self) -> None:
        """helm uninstall (or delete the static objects), then wait until its pods are gone."""
        if not self.installed or self.uninstalled:
            return
        ctx = self.ctx
        timeout = ctx.profile.timeouts["uninstall"]
        ctx.progress(f"uninstalling {self.name} from {self.namespace}")
        try:
            if ctx.profile.chart.manifest:
                self._delete_static(timeout)
            else:
                assert ctx.helm is not None
                ctx.helm.uninstall(self.name, self.namespace, timeout)
        except (HelmError, ApiException) as err:
            raise ReleaseError(_one_line(err)) from None
        self.uninstalled = True
        if self.namespace_created:
            # Started now, so the namespace controller's seconds overlap the pods' shutdown;
            # the run's namespaces are awaited together by teardown.delete_created.
            ctx.kube.core.delete_namespace(self.namespace)
        for namespace in sorted({ns for ns, _ in self.daemonset_locations()} | {self.namespace}):
            wait_for(
                ctx.kube.core.list_namespaced_pod,
                lambda pods: (not pods, f"{len(pods)} plugin pod(s) still running"),
                what=f"the pods of release {self.name} to go away",
                timeout_s=timeout,
                progress=ctx.progress,
                namespace=namespace,
                label_selector=ctx.identity.selector,
            )

    def _delete_static(self, timeout_s: float) -> None:
        """Delete every object the run applied and show each one gone; nothing to delete is a
        failure (the install recorded nothing, so what would this uninstall prove?)."""
        if not self.static_objects:
            raise ReleaseError("nothing to delete: the run applied no objects of the manifest")
        ctx = self.ctx
        for obj in reversed(self.static_objects):
            delete_applied(ctx, obj)
        for obj in self.static_objects:
            if not wait_applied_gone(ctx, obj, timeout_s):
                raise ReleaseError(f"{obj.describe()} is still there {timeout_s:.0f}s after delete")
            ctx.progress(f"deleted {obj.describe()}: gone")


def _one_line(err: BaseException) -> str:
    if isinstance(err, ApiException):
        return f"API server refused: {err.status} {err.reason}"
    return str(err).splitlines()[0] if str(err) else type(err).__name__
