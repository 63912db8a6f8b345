"""Pre-upgrade validation, canary scope, least-privilege runs and run-to-run comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from kubernetes import client, utils

from gpuconform.permissions import required_permissions
from gpuconform.rbac import runner_manifests
from tests.fixtures.suite_run import (
    SKIPPED_BY_SIM_PROFILE,
    labelled_leftovers,
    run_suite,
    write_profiles,
)

pytestmark = pytest.mark.suite_run


def test_upgrade_path_replaces_every_plugin_pod_and_keeps_workloads(tmp_path):
    run = run_suite(tmp_path, "--cluster=sim", "--upgrade-from=0.17.4")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    upgrade = cases["test_upgrade_rolls_out_and_gpu_pods_keep_running"]
    assert upgrade.find("failure") is None and upgrade.find("skipped") is None
    assert "0.17.4 -> nvidia-device-plugin-0.20.0" in run.html()
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert summary["facts"]["upgrade from"] == "0.17.4"
    assert summary["facts"]["upgraded"] == "0.17.4 -> nvidia-device-plugin-0.20.0"


def test_upgrade_to_a_broken_version_fails_with_a_diagnosis(tmp_path):
    """The real 0.20.0 chart with an image tag no registry serves: the real kubelet reports
    ErrImagePull, then ImagePullBackOff once it backs off; either is the stuck pull."""
    run = run_suite(
        tmp_path, "--cluster=sim", "--upgrade-from=0.17.4", "--upgrade-set=image.tag=v0.99.0"
    )
    assert run.returncode == 1, run.output[-3000:]
    failure = run.junit()["test_upgrade_rolls_out_and_gpu_pods_keep_running"].find("failure")
    assert "the upgrade 0.17.4 -> 0.20.0 (--set image.tag=v0.99.0) broke the rollout" in (
        failure.text
    )
    assert re.search(r"(ErrImagePull|ImagePullBackOff): .*v0\.99\.0", failure.text), failure.text
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert "could not be pulled" in summary["diagnoses"][0]["diagnosis"]


def test_canary_scope_validates_only_the_selected_nodes(tmp_path):
    run = run_suite(tmp_path, "--cluster=sim", "--nodes=kubernetes.io/hostname=gpu-node-1")
    assert run.returncode == 0, run.output[-3000:]
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert summary["facts"]["GPU nodes"] == "1: gpu-node-1"
    assert summary["facts"]["GPUs advertised"] == 8
    assert summary["facts"]["canary nodes"] == "kubernetes.io/hostname=gpu-node-1"


RUNNER_PLUGIN_NS = "gpuconform-runner-nvdp"


def apply_runner_rbac(
    api: client.ApiClient, drop: str | None = None, features: tuple[str, ...] = ()
) -> None:
    """Create (or update) the generated runner RBAC; the plugin namespace is pre-created."""
    manifests = runner_manifests(
        "install", plugin_namespace=RUNNER_PLUGIN_NS, drop=drop, features=features
    )
    for obj in manifests:
        try:
            utils.create_from_dict(api, obj)
        except utils.FailToCreateError as err:
            if not all(e.status == 409 for e in err.api_exceptions):
                raise
            rbac = client.RbacAuthorizationV1Api(api)
            if obj["kind"] == "ClusterRole":
                rbac.replace_cluster_role(obj["metadata"]["name"], obj)
            elif obj["kind"] == "Role":
                rbac.replace_namespaced_role(obj["metadata"]["name"], RUNNER_PLUGIN_NS, obj)


def runner_profile(tmp_path, kubeconfig) -> str:
    profile = {"extends": "base", "kubeconfig": str(kubeconfig)}
    profile["release"] = {"name": "nvdp", "namespace": RUNNER_PLUGIN_NS}
    return str(write_profiles(tmp_path, {"runner": profile}))


def test_runs_as_the_least_privilege_service_account(tmp_path, shared_cluster, shared_api):
    apply_runner_rbac(shared_api)
    kubeconfig = token_kubeconfig_for_runner(shared_cluster, shared_api, tmp_path)
    profiles = runner_profile(tmp_path, kubeconfig)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(
        json.dumps(
            {
                "run_id": "earlier",
                "started": "yesterday",
                "tests": [
                    {"name": "test_chart_installs", "outcome": "failed", "duration_s": 1.0},
                    {
                        "name": "test_gpu_nodes_are_found_and_ready",
                        "outcome": "passed",
                        "duration_s": 0.1,
                    },
                ],
            }
        )
    )
    run = run_suite(tmp_path, "--cluster=runner", f"--profiles={profiles}", f"--compare={baseline}")
    assert run.returncode == 0, run.output[-3000:]
    assert "fixed: test_chart_installs" in run.output
    summary_text = (run.report_dir / "summary.json").read_text()
    assert json.loads(summary_text)["comparison"]["fixed"] == ["test_chart_installs"]
    html = run.html()
    assert "Since the baseline" in html
    # --compare shows the trend of this profile's runs: this one is the only one so far.
    start = html.index("id='gpuconform-trend'")
    trend = html[start : html.index("</table>", start)]
    assert trend.count("<tr class='gc-") == 1 and "CONFORMANT" in trend
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert {t["name"] for t in summary["tests"]} >= {
        "test_chart_installs",
        "test_nothing_with_the_run_id_remains",
    }
    assert all(
        t["outcome"] == "passed"
        for t in summary["tests"]
        if t["name"] not in SKIPPED_BY_SIM_PROFILE
    )
    assert labelled_leftovers(shared_api) == []


def test_gfd_installs_and_uninstalls_as_the_runner_with_its_gfd_rbac(
    tmp_path, shared_cluster, shared_api
):
    """`gpuconform rbac install --gfd` is enough for the chart's gfd.enabled: NFD's CRDs,
    Deployments, roles (RBAC escalation checks included) and its post-delete Job."""
    apply_runner_rbac(shared_api, features=("gfd",))
    rbac = client.RbacAuthorizationV1Api(shared_api)
    try:
        kubeconfig = token_kubeconfig_for_runner(shared_cluster, shared_api, tmp_path)
        profile = yaml.safe_load(Path(runner_profile(tmp_path, kubeconfig)).read_text())
        runner = profile["profiles"]["runner"]
        runner["chart"] = profile["profiles"]["base"]["chart"] | {"set": ["gfd.enabled=true"]}
        profiles = tmp_path / "gfd-profiles.yaml"
        profiles.write_text(yaml.safe_dump(profile))
        run = run_suite(tmp_path, "--cluster=runner", f"--profiles={profiles}")
        assert run.returncode == 0, run.output[-3000:]
        summary = json.loads((run.report_dir / "summary.json").read_text())
        # The session gate checked the gfd rules too (the values enable GFD).
        checked = len(required_permissions("install", features=("gfd",)))
        assert summary["facts"]["permissions checked"] == checked
        assert labelled_leftovers(shared_api) == []
    finally:
        name = "gpuconform-runner-install-gfd"
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)
        rbac.delete_namespaced_role_binding(name, RUNNER_PLUGIN_NS)
        rbac.delete_namespaced_role(name, RUNNER_PLUGIN_NS)


def test_one_missing_permission_fails_preflight_by_name(tmp_path, shared_cluster, shared_api):
    apply_runner_rbac(shared_api, drop="delete apps/daemonsets")
    try:
        kubeconfig = token_kubeconfig_for_runner(shared_cluster, shared_api, tmp_path)
        profiles = runner_profile(tmp_path, kubeconfig)
        run = run_suite(tmp_path, "--cluster=runner", f"--profiles={profiles}")
        assert run.returncode == 4, run.output[-3000:]
        errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
        assert errors == [
            f"ERROR: gpuconform: missing permission(s): delete apps/daemonsets (namespace "
            f"{RUNNER_PLUGIN_NS}) - grant them "
            "(see manifests/runner/) or run with a more privileged context"
        ]
    finally:
        apply_runner_rbac(shared_api)


def token_kubeconfig_for_runner(shared_cluster, api, tmp_path):
    core = client.CoreV1Api(api)
    token = core.create_namespaced_service_account_token(
        "gpuconform-runner", "gpuconform", {"spec": {"expirationSeconds": 3600}}
    ).status.token
    kubeconfig = yaml.safe_load(shared_cluster.paths.kubeconfig.read_text())
    kubeconfig["users"] = [{"name": kubeconfig["users"][0]["name"], "user": {"token": token}}]
    path = tmp_path / "runner.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path
