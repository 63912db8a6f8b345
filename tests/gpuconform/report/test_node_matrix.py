"""The node matrix (gpuconform/report/node_matrix.py): one row per GPU node from API objects,
probes and diagnoses, judged against the profile's expectations."""

from __future__ import annotations

from pathlib import Path

from gpuconform.diagnose.probe import parse_probe
from gpuconform.fleet import Expectation
from gpuconform.report.html import node_matrix_html
from gpuconform.report.node_matrix import DraView, build_node_matrix, probe_facts
from tests.gpuconform.report.fakes import GPU_LABELS, expecting, matrix_snapshot, node, pod

DATA = Path(__file__).resolve().parents[2] / "data"


def test_node_matrix_rows_from_api_objects_probes_and_diagnoses():
    probes = {
        "gpu-a": parse_probe((DATA / "h200-host" / "node-probe-h200.txt").read_text()),
        "gpu-b": parse_probe((DATA / "outputs" / "probe-broken-driver.txt").read_text()),
    }
    rows = build_node_matrix(
        matrix_snapshot(),
        expecting({"nvidia.com/gpu": 8}),
        probes,
        {"gpu-b": "[driver] libnvidia-ml.so.1 cannot be loaded"},
    )
    assert [r.name for r in rows] == ["gpu-a", "gpu-b", "gpu-outside"]  # no CPU node
    a, b, outside = rows
    assert a.healthy and a.ready and a.expected
    assert a.plugin_pod == "nvdp-a" and a.plugin_phase == "Running" and a.plugin_restarts == 0
    assert (a.gpus_advertised, a.gpus_expected) == (8, 8)
    assert a.workload == ["gpu-workload: Succeeded"]  # no-GPU and expected-failure pods: not
    assert a.probe == {
        "driver": "580.159.04",
        "gpus": 1,
        "toolkit": "not installed",
        "driver_ok": True,
    }
    assert a.gpu_labels == GPU_LABELS and a.problems == []

    assert not b.healthy
    assert b.plugin_pod == "nvdp-b" and b.plugin_restarts == 6
    assert "CrashLoopBackOff" in b.plugin_phase
    assert b.gpus_advertised == 0 and b.workload == []
    assert b.probe["driver_ok"] is False and b.probe["toolkit"] == "fails (exit 1)"
    assert b.diagnosis.startswith("[driver]")
    assert "advertises 0 GPUs" in b.problems and "node probe: driver not working" in b.problems

    assert not outside.expected and not outside.healthy
    assert outside.gpu_labels == {"feature.node.kubernetes.io/pci-10de.present": "true"}
    assert outside.problems == ["not matched by the profile's GPU node selector"]
    assert outside.as_dict()["healthy"] is False and outside.as_dict()["name"] == "gpu-outside"


def test_a_cdi_mode_node_without_nvidia_container_cli_has_its_toolkit():
    # A real node of the sim (tests/data/real-node-probe/README.md): its runtime runs in CDI
    # mode, where nvidia-container-cli is not needed, and the probe says so.
    for name in ("healthy-gpu-node-0.txt", "no-nvml-gpu-broken-0.txt"):
        probe = parse_probe((DATA / "real-node-probe" / name).read_text())
        assert probe_facts(probe)["toolkit"] == "ok (CDI mode: no nvidia-container-cli needed)"


def test_node_matrix_expects_what_the_profile_does_shared_or_renamed():
    # gpu-a advertises 8 nvidia.com/gpu: right for 8 GPUs, short for 8 x 4 time-slicing
    # replicas, and nothing of a renamed shared resource.
    plain = {
        r.name: r
        for r in build_node_matrix(matrix_snapshot(), expecting({"nvidia.com/gpu": 8}), {}, {})
    }
    assert plain["gpu-a"].healthy
    shared = {
        r.name: r
        for r in build_node_matrix(matrix_snapshot(), expecting({"nvidia.com/gpu": 32}), {}, {})
    }
    assert (shared["gpu-a"].gpus_advertised, shared["gpu-a"].gpus_expected) == (8, 32)
    assert "advertises 8 GPUs" in shared["gpu-a"].problems
    renamed = build_node_matrix(matrix_snapshot(), expecting({"nvidia.com/gpu.shared": 16}), {}, {})
    assert {r.name: r.gpus_advertised for r in renamed}["gpu-a"] == 0


def test_a_gpu_the_plugin_marked_unhealthy_shows_in_the_node_matrix():
    snap = matrix_snapshot()
    snap.nodes[1] = node("gpu-a", GPU_LABELS, gpus=7, unhealthy=1)  # e.g. after an Xid
    rows = {r.name: r for r in build_node_matrix(snap, expecting({"nvidia.com/gpu": 8}), {}, {})}
    a = rows["gpu-a"]
    assert (a.gpus_advertised, a.gpus_unhealthy, a.gpus_expected) == (7, 1, 8)
    assert "1 GPU(s) unhealthy" in a.problems and not a.healthy
    assert "7 / 8<br>1 unhealthy" in node_matrix_html(list(rows.values()))
    assert rows["gpu-b"].gpus_unhealthy == 0


def test_a_node_without_a_plugin_pod_is_broken_and_says_why():
    snap = matrix_snapshot()
    snap.plugin_pods = []
    rows = {r.name: r for r in build_node_matrix(snap, expecting(None), {}, {})}
    assert rows["gpu-a"].plugin_pod is None
    assert "no device-plugin pod" in rows["gpu-a"].problems
    assert rows["gpu-a"].probe is None and rows["gpu-a"].gpus_expected is None


def test_node_matrix_groups_rows_by_pool_and_says_where_expectations_come_from():
    snap = matrix_snapshot()
    expectations = {
        "gpu-b": Expectation("training", "nvidia.com/gpu", 8, "profile", {"nvidia.com/gpu": 8}),
        "gpu-a": Expectation(
            "inference", "nvidia.com/gpu", 8, "label nvidia.com/gpu.count", {"nvidia.com/gpu": 8}
        ),
    }
    rows = build_node_matrix(snap, expectations, {}, {})
    # Pools in the order given (training first), then the unexpected node.
    assert [(r.name, r.pool) for r in rows] == [
        ("gpu-b", "training"),
        ("gpu-a", "inference"),
        ("gpu-outside", None),
    ]
    assert rows[1].expected_from == "label nvidia.com/gpu.count" and rows[1].healthy
    html = node_matrix_html(rows)
    assert "<th>Pool</th>" in html
    assert "data-node='gpu-a' data-pool='inference'" in html
    assert "8 / 8<br><small>from label nvidia.com/gpu.count</small>" in html
    # One pool: no Pool column.
    single = build_node_matrix(snap, expecting({"nvidia.com/gpu": 8}), {}, {})
    assert "<th>Pool</th>" not in node_matrix_html(single)


def test_on_the_dra_path_nodes_are_judged_by_their_resourceslice_pool():
    # Neither node advertises nvidia.com/gpu for the DRA path's purpose: gpu-b has 0, which
    # the device-plugin matrix calls broken; the DRA view says what each node publishes.
    snap = matrix_snapshot()
    snap.dra = DraView(
        gpus={"gpu-a": 8, "gpu-b": 8},
        plugin_pods=[pod("dra-a", "gpu-a", "dra-uid"), pod("dra-b", "gpu-b", "dra-uid")],
    )
    snap.nodes = [n for n in snap.nodes if n.metadata.name != "gpu-outside"]
    a, b = build_node_matrix(snap, expecting({"nvidia.com/gpu": 8}), {}, {})
    assert a.healthy and b.healthy, (a.problems, b.problems)
    assert (b.plugin_pod, b.gpus_advertised) == ("dra-b", 8)
    snap.dra = DraView(gpus={"gpu-a": 8}, plugin_pods=[pod("dra-a", "gpu-a", "dra-uid")])
    a, b = build_node_matrix(snap, expecting({"nvidia.com/gpu": 8}), {}, {})
    assert a.healthy
    assert b.problems == ["no DRA kubelet-plugin pod", "publishes 0 GPUs (ResourceSlice)"]
