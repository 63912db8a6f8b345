"""Failure signatures on realistic text: every signature, benign warnings, order of blame.

The texts in tests/data/outputs/ are written after the real tools' messages (device plugin,
nvidia-container-cli, kubelet, scheduler). tests/data/h200-host/ is raw output captured on a
real NVIDIA H200 host through the `device` tool (see README there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconform.diagnose.explain import Evidence, explain, load_signatures
from gpuconform.diagnose.probe import parse_probe
from gpuconform.diagnose.xid import describe
from tests.gpuconform.diagnose.corpus import failure_cases

DATA = Path(__file__).resolve().parents[2] / "data"


def ids(text: str, source: str = "file") -> list[str]:
    return [f.signature.id for f in explain([Evidence(source, "x", text)]).findings]


@pytest.mark.parametrize(
    "file, signature",
    [
        ("plugin-nvml-missing.log", "nvml-not-loadable-in-plugin"),
        ("mismatch.txt", "driver-library-version-mismatch"),
        ("no-devices.log", "plugin-no-devices"),
        ("describe-pending-pod.txt", "insufficient-gpu"),
        ("events-runtimeclass.txt", "runtimeclass-nvidia-missing"),
        ("discovery.log", "invalid-device-discovery-strategy"),
        ("cgroup.log", "cgroup-device-access"),
        ("workload-cuda-too-new.log", "cuda-newer-than-driver"),
        ("image-pull.txt", "image-pull-failed"),
        ("probe-timeout.txt", "probe-timeout"),
        ("container-cli-healthy.txt", "container-cli-benign-warning"),
        ("probe-broken-driver.txt", "libnvidia-ml-not-loadable-on-node"),
        ("probe-broken-driver.txt", "nvidia-smi-cannot-reach-driver"),
        ("probe-broken-driver.txt", "nvidia-runtime-not-configured"),
    ],
)
def test_each_signature_matches_its_realistic_output(file, signature):
    assert signature in ids((DATA / "outputs" / file).read_text())


def test_every_signature_has_a_test_or_a_scenario():
    tested = set(test_each_signature_matches_its_realistic_output.pytestmark[0].args[1])
    tested_ids = {sig for _, sig in tested}
    # Proven elsewhere: on the simulated cluster (the `sim` tier) and on the real H200 output below.
    scenario_ids = {"no-node-matches-affinity", "container-toolkit-missing", "plugin-crash-loop"}
    scenario_ids.add("podsecurity-rejected")  # tests/suites/test_hardened_clusters.py
    scenario_ids.add("plugin-taint-not-tolerated")  # tests/suites/test_fleets.py
    scenario_ids.add("gpu-visible-without-request")  # tests/suites/test_suite_runs.py (leak)
    scenario_ids.add("dra-no-resourceslice")  # tests/suites/test_dra_runs.py (broken DRA node)
    # And on real failures: tests/data/real-world/ (test_corpus_accuracy.py).
    corpus_ids = {
        sig_id
        for case in failure_cases()
        for sig_id in [case.entry["class"], *case.entry.get("also_matches", [])]
    }
    _, signatures = load_signatures()
    assert {s.id for s in signatures} <= tested_ids | scenario_ids | corpus_ids


def test_benign_container_cli_warnings_are_info_only():
    explanation = explain(
        [Evidence("node-probe", "gpu-1", (DATA / "outputs/container-cli-healthy.txt").read_text())]
    )
    assert explanation.primary is None
    assert all(f.signature.severity == "info" for f in explanation.findings)


def test_node_evidence_puts_the_driver_before_the_plugin():
    plugin_log = (DATA / "outputs/plugin-nvml-missing.log").read_text()
    probe = (
        "=== gpuconform-probe: nvidia-container-cli info ===\n"
        "nvidia-container-cli: initialization error: load library failed: "
        "libnvidia-ml.so.1: cannot open shared object file: no such file or directory\n"
        "=== gpuconform-probe-exit: nvidia-container-cli info 1 ===\n"
    )
    explanation = explain(
        [
            Evidence("plugin-log", "ns/plugin-abc", plugin_log, node="gpu-3"),
            Evidence("node-probe", "gpu-3", probe, node="gpu-3"),
        ]
    )
    assert explanation.primary.signature.id == "libnvidia-ml-not-loadable-on-node"
    assert explanation.primary.node == "gpu-3"
    assert "load library failed" in explanation.primary.lines[0]
    assert [f.signature.layer for f in explanation.causes] == ["driver", "container-runtime"]


def test_driver_signature_needs_node_evidence():
    # The same library error in a plugin log alone is not proof the node's driver is broken.
    assert "libnvidia-ml-not-loadable-on-node" not in ids(
        "load library failed: libnvidia-ml.so.1", source="plugin-log"
    )


def test_a_working_driver_moves_the_blame_up():
    healthy_probe = (
        "=== gpuconform-probe: nvidia-smi -L ===\n"
        "GPU 0: NVIDIA H200 (UUID: GPU-e0350440-c9a0-c402-ea1b-a16e28383320)\n"
        "=== gpuconform-probe-exit: nvidia-smi -L 0 ===\n"
        "=== gpuconform-probe: ldconfig nvidia ===\n"
        "no NVIDIA libraries in the linker cache\n"
        "=== gpuconform-probe-exit: ldconfig nvidia 0 ===\n"
    )
    explanation = explain(
        [
            Evidence("node-probe", "gpu-1", healthy_probe, node="gpu-1"),
            Evidence(
                "plugin-log",
                "ns/p",
                "Failed to initialize NVML: could not load NVML library",
                node="gpu-1",
            ),
        ]
    )
    assert "gpu-1" in explanation.healthy_drivers
    assert explanation.primary.signature.layer == "container-runtime"


def test_real_h200_probe_reads_as_a_healthy_driver_layer():
    """Raw output of gpuconform/diagnose/node_probe.sh, run on a real NVIDIA H200 host
    (driver 580.159.04, no Kubernetes, no container toolkit) through the `device` tool."""
    text = (DATA / "h200-host/node-probe-h200.txt").read_text()
    probe = parse_probe(text)
    assert probe.driver_ok
    assert probe.gpu_models == ["NVIDIA H200"]
    assert probe.driver_version == "580.159.04"
    explanation = explain([Evidence("node-probe", "h200-host", text, node="h200-host")])
    assert (
        explanation.healthy_drivers["h200-host"].summary() == "1 x NVIDIA H200, driver 580.159.04"
    )
    assert all(f.signature.layer != "driver" for f in explanation.causes)
    # That host has no container toolkit: the one thing to flag there.
    assert [f.signature.id for f in explanation.causes] == ["container-toolkit-missing"]


# What the real v0.20.0 plugin logged on the simulated cluster's node gpu-xid-0 (fault xid: the
# mock NVML delivers Xid 79 on GPU 3), copied from that run's report (sim-xid, 2026-11-30).
XID_LOG = (
    "I1130 19:12:37.033264   12768 health.go:169] XidCriticalError: Xid=79 on "
    "Device=GPU-0fd5238d-0653-0c01-5ab7-ab297ee1e923; marking device as unhealthy.\n"
    "I1130 19:12:37.033304   12768 server.go:279] 'nvidia.com/gpu' device marked unhealthy: "
    "GPU-0fd5238d-0653-0c01-5ab7-ab297ee1e923"
)


def test_an_xid_finding_names_the_gpu_and_spells_out_the_xid():
    primary = explain([Evidence("plugin-log", "nvdp/pod", XID_LOG, "gpu-xid-0")]).primary
    assert primary.signature.id == "xid-unhealthy-device"
    assert primary.detail == (
        "GPU GPU-0fd5238d-0653-0c01-5ab7-ab297ee1e923 took Xid 79 (GPU has fallen off the bus; "
        "drain and reboot the node; check power, cooling and PCIe seating if it recurs)"
    )
    assert primary.cause.startswith(primary.detail + ": The driver reported a critical Xid")


def test_an_xid_line_without_its_device_falls_back_to_the_plain_diagnosis():
    line = "XidCriticalError: Xid=48 seen"
    primary = explain([Evidence("plugin-log", "nvdp/pod", line, "n")]).primary
    assert primary.detail is None
    assert primary.cause == primary.signature.diagnosis


def test_xid_codes_outside_the_list_still_read_as_xids():
    assert describe(48) == "Xid 48 (double bit ECC error; reset the GPU (or reboot the node))"
    assert describe(9999).startswith("Xid 9999 (not in gpuconform's Xid list")
