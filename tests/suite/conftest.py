"""Helpers to run the conformance suite itself (`pytest --cluster=...`) as a user would."""

from __future__ import annotations

import html
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from gpuconform.sim import third_party, toolchain
from gpuconform.sim.cluster import SimCluster
from gpuconform.wait import wait_for
from tests.data.plugin import plugin_daemonset

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SuiteRun:
    returncode: int
    output: str
    report_dir: Path | None

    def junit(self) -> dict[str, ET.Element]:
        assert self.report_dir is not None, self.output
        tree = ET.parse(self.report_dir / "junit.xml")
        return {case.get("name"): case for case in tree.iter("testcase")}

    def html(self) -> str:
        """The report's text with pytest-html's JSON-in-attribute escaping undone."""
        assert self.report_dir is not None, self.output
        return html.unescape((self.report_dir / "report.html").read_text())


def outcome(case: ET.Element) -> str:
    """A JUnit test case's outcome: failure, error, skipped or passed."""
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


# Steps the `sim` profile does not ask for: no --upgrade-from, no GPU sharing, no metrics
# exporter (the simulated GPUs have no DCGM).
SKIPPED_BY_SIM_PROFILE = (
    "test_upgrade_rolls_out_and_gpu_pods_keep_running",
    "test_a_shared_gpu_runs_two_pods_at_once",
    "test_every_gpu_has_utilisation_and_memory_metrics",
)


def run_suite(tmp_path: Path, *args: str, timeout: float = 420) -> SuiteRun:
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--reports-dir",
            str(reports),
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    latest = reports / "latest"
    return SuiteRun(
        proc.returncode, proc.stdout + proc.stderr, latest.resolve() if latest.exists() else None
    )


@pytest.fixture(scope="session")
def shared_cluster():
    """A healthy simulated cluster the tests point profiles at (the suite does not own it)."""
    cluster = SimCluster(f"gpuconform-suite-{os.getpid()}", log=lambda line: None)
    cluster.up("healthy")
    yield cluster
    cluster.down(quiet=True)


@pytest.fixture(scope="session")
def shared_api(shared_cluster) -> client.ApiClient:
    return config.new_client_from_config(str(shared_cluster.paths.kubeconfig))


def real_chart(version: str = "0.20.0") -> Path:
    """NVIDIA's published device-plugin chart archive, from the third-party directory."""
    chart = third_party.chart_archive(version)
    assert chart is not None, f"set {third_party.ENV_VAR}: no device-plugin chart {version}"
    return chart


def shipped_profiles() -> dict:
    """The project's clusters.yaml profiles, their values files' paths made absolute: a
    profiles file elsewhere finds values files next to itself."""
    profiles = yaml.safe_load((REPO / "clusters.yaml").read_text())["profiles"]
    for profile in profiles.values():
        for chart in (profile.get("chart"), (profile.get("dra") or {}).get("chart")):
            if isinstance(chart, dict) and chart.get("values"):
                chart["values"] = [str(REPO / v) for v in chart["values"]]
    return profiles


def write_profiles(tmp_path: Path, profiles: dict) -> Path:
    """A clusters.yaml with a `base` profile: the shipped `sim` settings, no simulation."""
    base = yaml.safe_load((REPO / "clusters.yaml").read_text())["profiles"]["sim"]
    base = {k: v for k, v in base.items() if k != "simulated"}
    # A local chart archive here (NVIDIA's published chart): the `sim` chart repository
    # belongs to suite-owned clusters.
    base["chart"] = {"path": str(real_chart())}
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"base": base} | profiles}))
    return path


def external_profiles(tmp_path: Path, cluster: SimCluster) -> str:
    """A profiles file whose profile `ext` targets `cluster` (which the suite does not own)."""
    kubeconfig = str(cluster.paths.kubeconfig)
    return str(write_profiles(tmp_path, {"ext": {"extends": "base", "kubeconfig": kubeconfig}}))


@contextmanager
def preinstalled_plugin(api: client.ApiClient, name: str):
    """A device-plugin DaemonSet someone else installed (kube-system), removed afterwards."""
    apps = client.AppsV1Api(api)
    apps.create_namespaced_daemon_set("kube-system", plugin_daemonset(name))
    try:
        yield
    finally:
        apps.delete_namespaced_daemon_set(name, "kube-system")


def labelled_leftovers(api: client.ApiClient) -> list[str]:
    """Anything on the cluster carrying any gpuconform run id."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    selector = "gpuconform.io/run-id"
    found = [f"ns/{n.metadata.name}" for n in core.list_namespace(label_selector=selector).items]
    found += [
        f"pod/{p.metadata.name}"
        for p in core.list_pod_for_all_namespaces(label_selector=selector).items
    ]
    found += [
        f"ds/{d.metadata.name}"
        for d in apps.list_daemon_set_for_all_namespaces(label_selector=selector).items
    ]
    found += [
        f"secret/{s.metadata.name}"
        for s in core.list_secret_for_all_namespaces(label_selector=selector).items
    ]
    return found


def remove_kept_run(cluster: SimCluster, api: client.ApiClient, release_namespace: str) -> None:
    """Remove what a --keep run left: its helm release, then its namespaces, and wait."""
    helm = str(toolchain.require_binary("helm"))
    kubeconfig = str(cluster.paths.kubeconfig)
    uninstall = [helm, "uninstall", "nvdp", "-n", release_namespace, "--wait"]
    subprocess.run([*uninstall, "--kubeconfig", kubeconfig], check=False, capture_output=True)
    core = client.CoreV1Api(api)
    for ns in core.list_namespace(label_selector="gpuconform.io/run-id").items:
        core.delete_namespace(ns.metadata.name)
    wait_for(
        core.list_namespace,
        lambda items: (not items, "terminating"),
        what="kept namespaces to go",
        timeout_s=120,
        label_selector="gpuconform.io/run-id",
    )
