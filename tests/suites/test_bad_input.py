"""Bad input: one clear line, a non-zero exit, nothing created, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.fixtures.suite_run import (
    external_profiles,
    labelled_leftovers,
    preinstalled_plugin,
    remove_kept_run,
    run_suite,
    shipped_profiles,
    write_profiles,
)

pytestmark = pytest.mark.suite_run


def token_kubeconfig(shared_cluster, api: client.ApiClient, tmp_path: Path, name: str) -> Path:
    """A kubeconfig that authenticates as a fresh ServiceAccount with no permissions."""
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account("default", {"metadata": {"name": name}})
    token = core.create_namespaced_service_account_token(
        name, "default", {"spec": {"expirationSeconds": 3600}}
    ).status.token
    kubeconfig = yaml.safe_load(Path(shared_cluster.paths.kubeconfig).read_text())
    kubeconfig["users"] = [{"name": kubeconfig["users"][0]["name"], "user": {"token": token}}]
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


def unreachable_kubeconfig(shared_cluster, tmp_path: Path) -> Path:
    kubeconfig = yaml.safe_load(Path(shared_cluster.paths.kubeconfig).read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


def assert_clean_refusal(run, message: str, api: client.ApiClient | None) -> None:
    assert run.returncode == 4, run.output[-2000:]
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], run.output[-2000:]
    assert "Traceback" not in run.output
    if api is not None:
        assert labelled_leftovers(api) == []


def test_unknown_profile_lists_the_known_ones(tmp_path):
    run = run_suite(tmp_path, "--cluster=prod-gpu-typo")
    assert_clean_refusal(run, "unknown cluster 'prod-gpu-typo'", None)
    assert f"(profiles: {', '.join(sorted(shipped_profiles()))}" in run.output


@pytest.mark.parametrize(
    "make_profile, message",
    [
        (lambda c, t: {"kubeconfig": str(t / "missing.yaml")}, "missing.yaml not found"),
        (
            lambda c, t: {"kubeconfig": str(c.paths.kubeconfig), "context": "nope"},
            "context 'nope' is not in",
        ),
        (
            lambda c, t: {"kubeconfig": str(unreachable_kubeconfig(c, t))},
            "cannot reach the API server at https://127.0.0.1:1",
        ),
    ],
    ids=["missing-kubeconfig", "unknown-context", "unreachable-api-server"],
)
def test_cluster_access_problems(tmp_path, shared_cluster, shared_api, make_profile, message):
    profile = {"extends": "base"} | make_profile(shared_cluster, tmp_path)
    profiles = write_profiles(tmp_path, {"bad": profile})
    run = run_suite(tmp_path, "--cluster=bad", f"--profiles={profiles}")
    assert_clean_refusal(run, message, shared_api)


def test_forbidden_permissions_are_named(tmp_path, shared_cluster, shared_api):
    kubeconfig = token_kubeconfig(shared_cluster, shared_api, tmp_path, "gpuconform-nobody")
    profiles = write_profiles(tmp_path, {"bad": {"extends": "base", "kubeconfig": str(kubeconfig)}})
    run = run_suite(tmp_path, "--cluster=bad", f"--profiles={profiles}")
    assert_clean_refusal(run, "missing permission(s): get namespaces; list namespaces", shared_api)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--chart=/nonexistent/chart"], 'path "/nonexistent/chart" not found'),
        # The space form: pytest knows --chart before it parses (the pytest11 entry point).
        (["--chart", "/nonexistent/chart"], 'path "/nonexistent/chart" not found'),
        (["--values=BAD"], "cannot be used: failed to parse"),
        (
            ["--chart=/nonexistent/plugin.yaml"],
            "static manifest /nonexistent/plugin.yaml not found",
        ),
    ],
    ids=["chart-not-found", "chart-not-found-space-form", "bad-values-file", "manifest-not-found"],
)
def test_chart_problems_stop_before_anything_is_created(
    tmp_path, shared_cluster, shared_api, args, message
):
    bad_values = tmp_path / "bad-values.yaml"
    bad_values.write_text("tolerations: [unclosed\n")
    args = [a.replace("BAD", str(bad_values)) for a in args]
    profiles = external_profiles(tmp_path, shared_cluster)
    run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}", *args)
    assert_clean_refusal(run, message, shared_api)
    namespaces = [n.metadata.name for n in client.CoreV1Api(shared_api).list_namespace().items]
    assert "gpuconform-nvdp" not in namespaces


def test_overlapping_pools_stop_before_anything_is_created(tmp_path, shared_cluster, shared_api):
    # Every H200 node carries both labels: each would be in two pools.
    pools = [
        {"name": "h200", "selector": "node.kubernetes.io/instance-type=sim.h200x8"},
        {"name": "all-gpus", "selector": "nvidia.com/gpu.present=true"},
    ]
    kubeconfig = str(shared_cluster.paths.kubeconfig)
    profile = {"extends": "base", "kubeconfig": kubeconfig, "gpu_nodes": pools}
    profiles = write_profiles(tmp_path, {"overlap": profile})
    run = run_suite(tmp_path, "--cluster=overlap", f"--profiles={profiles}")
    assert_clean_refusal(
        run,
        "node gpu-node-0 is in pool 'h200' and in pool 'all-gpus'; pools must not overlap",
        shared_api,
    )
    namespaces = [n.metadata.name for n in client.CoreV1Api(shared_api).list_namespace().items]
    assert "gpuconform-nvdp" not in namespaces


def test_install_over_an_existing_plugin_is_refused(tmp_path, shared_cluster, shared_api):
    with preinstalled_plugin(shared_api, "preinstalled-plugin"):
        profiles = external_profiles(tmp_path, shared_cluster)
        run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}")
        assert_clean_refusal(
            run, "a device plugin is already running (kube-system/preinstalled-plugin)", shared_api
        )
        assert "--mode=existing" in run.output


def test_existing_mode_without_a_plugin_is_refused(tmp_path, shared_cluster, shared_api):
    profiles = external_profiles(tmp_path, shared_cluster)
    run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}", "--mode=existing")
    assert_clean_refusal(
        run, "mode is `existing` but no device-plugin DaemonSet runs on the cluster", shared_api
    )


def test_kind_without_docker_says_so_in_one_line(tmp_path):
    from gpuconform.kind import docker_available

    if docker_available():
        pytest.skip("a Docker engine is reachable here: the kind profile would really run")
    profiles = write_profiles(tmp_path, {"kind": {"extends": "base", "kind": True}})
    run = run_suite(tmp_path, "--cluster=kind", f"--profiles={profiles}")
    assert_clean_refusal(run, "the kind profile needs a running Docker engine", None)


def test_keep_leaves_the_run_and_says_how_to_remove_it(tmp_path, shared_cluster, shared_api):
    profiles = external_profiles(tmp_path, shared_cluster)
    run = run_suite(tmp_path, "--cluster=ext", f"--profiles={profiles}", "--keep", "-k", "install")
    try:
        assert run.returncode == 0, run.output[-3000:]
        assert "--keep: left everything labelled gpuconform.io/run-id=" in run.output
        assert "helm uninstall nvdp -n gpuconform-nvdp" in run.output
        left = labelled_leftovers(shared_api)
        assert any(item.startswith("ds/nvdp-nvidia-device-plugin") for item in left), left
    finally:
        remove_kept_run(shared_cluster, shared_api, "gpuconform-nvdp")
