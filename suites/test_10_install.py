"""Step 2 - install: helm installs the chart, labelled with this run's id."""

from __future__ import annotations

import pytest

from gpuconform.kube import RUN_ID_LABEL

# What helm made of the chart in the plugin's namespace, and the nodes it runs on.
pytestmark = pytest.mark.step(
    "install",
    needs=["preflight"],
    evidence=["plugin", "nodes", "node-probe"],
)


def test_chart_installs(run, release):
    if run.profile.mode == "existing":
        pytest.skip("mode is `existing`: nothing to install")
    assert release.error is None, f"install failed: {release.error}"
    if run.helm is not None and not release.static_objects:
        status = run.helm.status(release.name, release.namespace)
        assert status is not None and status["info"]["status"] == "deployed", (
            f"helm reports release {release.name} as "
            f"{status['info']['status'] if status else 'missing'}"
        )
        run.facts.chart_installed = release.chart_installed


def test_release_objects_carry_the_run_id(run, installed_release):
    if run.profile.mode == "existing":
        pytest.skip("mode is `existing`: nothing was installed")
    for ds in installed_release.daemonsets():
        assert ds.metadata.labels.get(RUN_ID_LABEL) == run.identity.run_id, (
            f"DaemonSet {ds.metadata.name} lacks the run-id label"
        )
        template_labels = ds.spec.template.metadata.labels or {}
        assert template_labels.get(RUN_ID_LABEL) == run.identity.run_id, (
            f"pods of DaemonSet {ds.metadata.name} would not carry the run-id label"
        )
