"""Step 8 - uninstall: helm uninstall (or deleting every applied object) leaves nothing behind."""

from __future__ import annotations

import pytest

from gpuconform.leak_check import applied_exists, leaks
from gpuconform.teardown import delete_created

# What is left, where: no node probe (a privileged pod made after uninstall).
pytestmark = pytest.mark.step(
    "uninstall",
    needs=["install"],
    evidence=["plugin", "workload"],
)


def test_uninstall_removes_the_plugin(run, installed_release):
    if run.profile.mode == "existing" or run.profile.keep:
        pytest.skip("the plugin stays: mode is `existing` or --keep was given")
    locations = installed_release.daemonset_locations()
    installed_release.uninstall()
    for namespace, name in locations:
        remaining = run.kube.apps.list_namespaced_daemon_set(
            namespace, field_selector=f"metadata.name={name}"
        ).items
        assert not remaining, f"DaemonSet {namespace}/{name} still exists after uninstall"
    left = [o.describe() for o in installed_release.static_objects if applied_exists(run, o)]
    assert not left, f"applied objects still there after uninstall: {', '.join(left)}"
    pods = run.kube.core.list_pod_for_all_namespaces(label_selector=run.identity.selector).items
    plugin_namespaces = {ns for ns, _ in locations} | {installed_release.namespace}
    plugin_pods = [p.metadata.name for p in pods if p.metadata.namespace in plugin_namespaces]
    assert not plugin_pods, f"plugin pods left behind: {plugin_pods}"
    if installed_release.namespace_created:
        namespaces = run.kube.core.list_namespace(
            field_selector=f"metadata.name={installed_release.namespace}"
        ).items
        assert all(ns.metadata.deletion_timestamp for ns in namespaces), (
            f"namespace {installed_release.namespace}, created by this run, was not deleted"
        )


@pytest.mark.verifies_clean  # passed as the last check: the session's clean-up reuses it
def test_nothing_with_the_run_id_remains(run, installed_release):
    if run.profile.keep:
        pytest.skip("--keep: everything is left for debugging")
    delete_created(run)
    left = leaks(run)
    assert not left, f"left on the cluster: {', '.join(left)}"
