"""Runs of the suite against a cluster it does not own (the shared cluster, `shared_cluster`):
one step selected, Ctrl-C mid run, existing mode (a plugin someone else installed, an
operator-shaped one), a static manifest, pull secrets."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest
import yaml
from kubernetes import client

from gpuconform.sim import toolchain
from gpuconform.wait import wait_for
from tests.data.plugin import OPERATOR_NAMESPACE, OPERATOR_NODE_LABEL, operator_daemonset
from tests.fixtures.suite_run import (
    REPO,
    external_profiles,
    labelled_leftovers,
    outcome,
    preinstalled_plugin,
    real_chart,
    remove_kept_run,
    run_suite,
    write_profiles,
)

pytestmark = pytest.mark.suite_run


def test_selecting_one_step_still_installs_and_cleans_up(tmp_path, shared_cluster, shared_api):
    profiles = external_profiles(tmp_path, shared_cluster)
    run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}", "-k", "workload")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    assert list(cases) == [
        "test_gpu_pod_runs_and_sees_exactly_its_gpu",
        "test_advertised_driver_and_cuda_versions_match_nvidia_smi",
        "test_a_shared_gpu_runs_two_pods_at_once",
    ]
    assert outcome(cases["test_gpu_pod_runs_and_sees_exactly_its_gpu"]) == "passed"
    assert "installing" in run.output and "uninstalling" in run.output
    assert labelled_leftovers(shared_api) == []


def test_ctrl_c_mid_run_leaves_nothing_with_the_run_id(tmp_path, shared_cluster, shared_api):
    # The GPU pod can never be scheduled (no node has the label), so the run is certain to be
    # waiting on it - with the plugin installed - when Ctrl-C comes, however slow the machine.
    kubeconfig = str(shared_cluster.paths.kubeconfig)
    stuck = {
        "extends": "base",
        "kubeconfig": kubeconfig,
        "workload": {"node_selector": {"gpuconform.io/no-such-node": "true"}},
        "timeouts": {"workload": 600},
    }
    profiles = write_profiles(tmp_path, {"ext": stuck})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--cluster=ext",
            f"--profiles={profiles}",
            f"--reports-dir={tmp_path / 'reports'}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell starts background jobs with SIGINT ignored, and children inherit that (CI
        # may run us so): give the run Ctrl-C's default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        interrupt_mid_run(proc, shared_api)
    finally:
        if proc.poll() is None:  # never leave a run behind on the shared cluster
            proc.kill()
            proc.wait()


def interrupt_mid_run(proc: subprocess.Popen, shared_api: client.ApiClient) -> None:
    core = client.CoreV1Api(shared_api)
    wait_for(
        core.list_pod_for_all_namespaces,
        lambda pods: (
            any(p.metadata.name == "gpu-workload" for p in pods.values()),
            "no GPU pod of the run yet",
        ),
        what="the run to wait on its GPU pod",
        timeout_s=300,
        label_selector="gpuconform.io/run-id",
    )
    assert labelled_leftovers(shared_api)  # mid-run: the plugin and the pod are there
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 2, output[-3000:]
    assert "KeyboardInterrupt" in output
    assert labelled_leftovers(shared_api) == []


def test_existing_mode_validates_a_plugin_installed_by_someone_else(
    tmp_path, shared_cluster, shared_api
):
    apps = client.AppsV1Api(shared_api)
    with preinstalled_plugin(shared_api, "operator-device-plugin"):
        profiles = external_profiles(tmp_path, shared_cluster)
        run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}", "--mode=existing")
        assert run.returncode == 0, run.output[-3000:]
        cases = run.junit()
        assert outcome(cases["test_daemonset_is_ready_on_every_gpu_node"]) == "passed"
        assert outcome(cases["test_gpu_pod_runs_and_sees_exactly_its_gpu"]) == "passed"
        assert outcome(cases["test_chart_installs"]) == "skipped"
        assert outcome(cases["test_uninstall_removes_the_plugin"]) == "skipped"
        # Not ours: it must still be there, untouched.
        assert apps.read_namespaced_daemon_set("operator-device-plugin", "kube-system")
        assert labelled_leftovers(shared_api) == []


@contextmanager
def operator_shaped_plugin(api: client.ApiClient, nodes: list[str]):
    """A plugin as the GPU Operator deploys it, in its namespace; all of it removed after."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": OPERATOR_NAMESPACE}})
    for node in nodes:
        core.patch_node(node, {"metadata": {"labels": {OPERATOR_NODE_LABEL: "true"}}})
    apps.create_namespaced_daemon_set(OPERATOR_NAMESPACE, operator_daemonset())
    try:
        yield
    finally:
        for node in nodes:
            core.patch_node(node, {"metadata": {"labels": {OPERATOR_NODE_LABEL: None}}})
        core.delete_namespace(OPERATOR_NAMESPACE)
        wait_for(
            core.list_namespace,
            lambda items: (not items, "terminating"),
            what=f"namespace {OPERATOR_NAMESPACE} to go",
            timeout_s=120,
            field_selector=f"metadata.name={OPERATOR_NAMESPACE}",
        )


def test_existing_mode_finds_an_operator_shaped_plugin_and_diagnoses_from_its_namespace(
    tmp_path, shared_cluster, shared_api
):
    core = client.CoreV1Api(shared_api)
    nodes = [
        n.metadata.name for n in core.list_node(label_selector="nvidia.com/gpu.present=true").items
    ]
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    with operator_shaped_plugin(shared_api, nodes):
        profiles = external_profiles(tmp_path / "ok", shared_cluster)
        run = run_suite(
            tmp_path / "ok", "--cluster=ext", f"--profiles={profiles}", "--mode=existing"
        )
        assert run.returncode == 0, run.output[-3000:]
        cases = run.junit()
        assert outcome(cases["test_daemonset_is_ready_on_every_gpu_node"]) == "passed"
        assert outcome(cases["test_gpu_pod_runs_and_sees_exactly_its_gpu"]) == "passed"

        # A failing check: its evidence comes from where the plugin really runs.
        kubeconfig = str(shared_cluster.paths.kubeconfig)
        too_many = {"extends": "base", "kubeconfig": kubeconfig, "gpu_nodes": {"gpus_per_node": 9}}
        failing = write_profiles(tmp_path / "bad", {"ext": too_many})
        run = run_suite(
            tmp_path / "bad",
            "--cluster=ext",
            f"--profiles={failing}",
            "--mode=existing",
            "-k",
            "advertise or daemonset",
        )
        assert run.returncode == 1, run.output[-3000:]
        cases = run.junit()
        assert outcome(cases["test_daemonset_is_ready_on_every_gpu_node"]) == "passed"
        assert outcome(cases["test_every_gpu_node_advertises_its_gpus"]) == "failure"
        diagnostics = run.report_dir / "diagnostics"
        logs = sorted(
            diagnostics.glob("pod-nvidia-device-plugin-daemonset-*/nvidia-device-plugin.log")
        )
        assert len(logs) == len(nodes), sorted(p.name for p in diagnostics.iterdir())
        assert all("Starting NVIDIA Device Plugin" in log.read_text() for log in logs)
        assert (diagnostics / f"namespace-{OPERATOR_NAMESPACE}" / "events.txt").exists()
    assert labelled_leftovers(shared_api) == []


def test_static_manifest_is_applied_into_kube_system_and_every_object_removed(
    tmp_path, shared_cluster, shared_api
):
    """Upstream's static manifest targets kube-system: the objects go where the manifest says,
    and uninstall deletes each of them (any kind) and shows it gone."""
    helm = str(toolchain.require_binary("helm"))
    manifest = tmp_path / "nvidia-device-plugin.yml"
    rendered = subprocess.run(
        [
            helm,
            "template",
            "nvdp",
            str(real_chart()),
            "--namespace",
            "kube-system",
            "--kube-version",
            toolchain.kubernetes_version(),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    manifest.write_text(rendered)
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered) if doc}
    profiles = external_profiles(tmp_path, shared_cluster)
    run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}", f"--chart={manifest}")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    assert outcome(cases["test_daemonset_is_ready_on_every_gpu_node"]) == "passed"
    assert outcome(cases["test_uninstall_removes_the_plugin"]) == "passed"
    gone = re.findall(r"deleted (\S+) (\S+): gone", run.output)
    assert {kind for kind, _ in gone} == kinds  # ServiceAccount, ClusterRole(+Binding), DaemonSet
    assert ("DaemonSet", "kube-system/nvdp-nvidia-device-plugin") in gone
    assert labelled_leftovers(shared_api) == []


def test_pull_secrets_are_copied_from_the_plugin_namespace(tmp_path, shared_cluster, shared_api):
    core = client.CoreV1Api(shared_api)
    namespace = "pull-secrets-source"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        core.create_namespaced_secret(
            namespace,
            {
                "metadata": {"name": "regcred"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {".dockerconfigjson": '{"auths": {}}'},
            },
        )
        profile = {
            "extends": "base",
            "kubeconfig": str(shared_cluster.paths.kubeconfig),
            "release": {"name": "nvdp", "namespace": namespace},
            "workload": {"image_pull_secrets": ["regcred"]},
        }
        profiles = write_profiles(tmp_path, {"ext": profile})
        run = run_suite(
            tmp_path, "--cluster=ext", f"--profiles={profiles}", "-k", "workload", "--keep"
        )
        assert run.returncode == 0, run.output[-3000:]
        assert outcome(run.junit()["test_gpu_pod_runs_and_sees_exactly_its_gpu"]) == "passed"
        # --keep left the run's workload namespace: the copy is there, with the run id.
        copies = [
            s
            for s in core.list_secret_for_all_namespaces(
                label_selector="gpuconform.io/run-id"
            ).items
            if s.metadata.name == "regcred"
        ]
        assert [c.metadata.namespace.startswith("gpuconform-") for c in copies] == [True]
        assert copies[0].type == "kubernetes.io/dockerconfigjson"
    finally:
        remove_kept_run(shared_cluster, shared_api, namespace)
        core.delete_namespace(namespace)
    # The source Secret was never the run's to delete; the copies went with the namespaces.
    assert labelled_leftovers(shared_api) == []
