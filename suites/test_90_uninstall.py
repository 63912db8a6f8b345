"""Step 6 - uninstall: helm uninstall leaves nothing of this run behind."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.step("uninstall", needs=["install"])


def test_uninstall_removes_the_plugin(run, installed_release):
    if run.profile.mode == "existing" or run.profile.keep:
        pytest.skip("the plugin stays: mode is `existing` or --keep was given")
    names = list(installed_release.daemonset_names)
    installed_release.uninstall()
    for name in names:
        remaining = run.kube.apps.list_namespaced_daemon_set(
            installed_release.namespace, field_selector=f"metadata.name={name}"
        ).items
        assert not remaining, f"DaemonSet {name} still exists after uninstall"
    pods = run.kube.core.list_pod_for_all_namespaces(label_selector=run.selector).items
    plugin_pods = [
        p.metadata.name for p in pods if p.metadata.namespace == installed_release.namespace
    ]
    assert not plugin_pods, f"plugin pods left behind: {plugin_pods}"
    if installed_release.namespace_created:
        namespaces = run.kube.core.list_namespace(
            field_selector=f"metadata.name={installed_release.namespace}"
        ).items
        assert all(ns.metadata.deletion_timestamp for ns in namespaces), (
            f"namespace {installed_release.namespace}, created by this run, was not deleted"
        )


def test_nothing_with_the_run_id_remains(run, installed_release):
    if run.profile.keep:
        pytest.skip("--keep: everything is left for debugging")
    run.delete_created()
    leaks = run.leaks()
    assert not leaks, f"left on the cluster: {', '.join(leaks)}"
