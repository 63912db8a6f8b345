"""The report's pure logic: steps in runbook order, verdict, node matrix, trend, HTML.

Over 400 lines because it covers six report modules; it splits into
tests/gpuconform/report/test_<module>.py when the tests move to mirror the packages (issue 18,
item 7), together with the rest of tests/unit.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubernetes import client

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.probe import parse_probe
from gpuconform.facts import RunFacts
from gpuconform.fleet import Expectation
from gpuconform.readiness import unhealthy_note
from gpuconform.report.html import node_matrix_html, steps_html, verdict_html
from gpuconform.report.layout import steps
from gpuconform.report.node_matrix import DraView, Snapshot, build_node_matrix, probe_facts
from gpuconform.report.steps import group_by_step, sentence
from gpuconform.report.trend import format_history, load_trend
from gpuconform.report.verdict import Diagnosis, decide
from gpuconform.summary import previous_run, run_dirs

DATA = Path(__file__).resolve().parents[1] / "data"
FACTS = RunFacts(
    cluster="sim (simulated)",
    server_version="v1.34.4",
    chart_installed="nvidia-device-plugin-0.20.0",
    gpuconform="0.1.0",
)


def check(name: str, step: str | None, outcome: str = "passed", duration: float = 1.0, **extra):
    return {"name": name, "step": step, "outcome": outcome, "duration_s": duration, **extra}


# --- steps -------------------------------------------------------------------------------


def test_steps_come_in_runbook_order_with_durations_and_reasons():
    tests = [
        check("test_uninstall", "uninstall", duration=2.0),
        check("test_ready", "readiness", "failed", 30.0, reason="not ready"),
        check("test_preflight_a", "preflight", duration=0.25),
        check("test_preflight_b", "preflight", duration=0.5),
        check(
            "test_workload",
            "workload",
            "skipped",
            0.0,
            reason="Needs step 'readiness', which failed: not ready.",
        ),
        check("test_custom", "custom-step"),
    ]
    grouped = group_by_step(tests)
    names = [s.name for s in grouped]
    assert names == [s.name for s in steps()] + ["custom-step"]
    assert names[:11] == [
        "preflight",
        "install",
        "readiness",
        "dra",
        "advertise",
        "workload",
        "scheduling",
        "health",
        "metrics",
        "upgrade",
        "uninstall",
    ]
    by_name = {s.name: s for s in grouped}
    assert by_name["preflight"].outcome == "passed"
    assert by_name["preflight"].duration_s == 0.75
    assert [c["name"] for c in by_name["preflight"].checks] == [
        "test_preflight_a",
        "test_preflight_b",
    ]
    assert by_name["readiness"].outcome == "failed"
    assert by_name["workload"].outcome == "skipped"
    assert by_name["workload"].reason == "Needs step 'readiness', which failed: not ready."
    assert by_name["install"].outcome == "not run"
    assert by_name["install"].reason == "No check of this step was selected in this run."


def test_a_step_with_a_passed_and_a_skipped_check_passed():
    grouped = group_by_step(
        [check("a", "scheduling"), check("b", "scheduling", "skipped", reason="kind.")]
    )
    assert {s.name: s.outcome for s in grouped}["scheduling"] == "passed"


def test_skip_reasons_become_sentences():
    assert sentence("Skipped: no --upgrade-from given: nothing to upgrade") == (
        "No --upgrade-from given: nothing to upgrade."
    )
    assert sentence("mode is `existing`.") == "Mode is `existing`."
    assert sentence("") == "No reason was given."


# --- verdict -----------------------------------------------------------------------------


def diagnosis_for(text: str, source: str, test: str, step: str, node: str | None = None):
    explanation = explain([Evidence(source, node or "x", text, node)])
    return Diagnosis.from_explanation(test, step, explanation)


def test_conformant_when_every_check_passed_and_nothing_leaked():
    tests = [check("a", "preflight"), check("b", "upgrade", "skipped", reason="No upgrade.")]
    verdict = decide("sim", FACTS, tests, [], [], 0)
    assert verdict.conformant
    line = verdict.line()
    assert line.startswith("CONFORMANT - profile sim, cluster sim (simulated)")
    for part in ("Kubernetes v1.34.4", "chart nvidia-device-plugin-0.20.0", "gpuconform 0.1.0"):
        assert part in line
    assert "all 1 checks passed, 1 skipped" in line


def test_not_conformant_blames_the_first_broken_layer_with_its_fix():
    probe = (DATA / "outputs" / "probe-broken-driver.txt").read_text()
    plugin_log = (DATA / "outputs" / "plugin-nvml-missing.log").read_text()
    later = diagnosis_for(plugin_log, "plugin-log", "test_advertise", "advertise", "gpu-2")
    driver = diagnosis_for(probe, "node-probe", "test_ready", "readiness", "gpu-2")
    assert later.layer != "driver" and driver.layer == "driver"
    tests = [check("test_ready", "readiness", "failed"), check("test_advertise", "advertise")]
    verdict = decide("sim-faulty", FACTS, tests, [later, driver], [], 1)
    assert not verdict.conformant
    line = verdict.line()
    assert line.startswith("NOT CONFORMANT - profile sim-faulty")
    assert "first broken layer: driver on gpu-2 (step readiness, check test_ready): " in line
    assert "libnvidia-ml.so.1" in line
    assert f"Fix: {driver.fix}" in line and "ldconfig" in line


def test_an_unexplained_failure_names_its_step_and_message():
    tests = [check("test_ready", "readiness", "failed", reason="DaemonSet not ready")]
    unexplained = Diagnosis("test_ready", "no known failure signature matched", "readiness")
    verdict = decide("sim", FACTS, tests, [unexplained], [], 1)
    assert "step readiness failed: test_ready: DaemonSet not ready" in verdict.line()


def test_leaks_and_runs_without_checks_are_not_conformant():
    passed = [check("a", "preflight")]
    leaked = decide("sim", FACTS, passed, [], ["Pod ns/p"], 1)
    assert not leaked.conformant and "Pod ns/p" in leaked.reason
    assert not decide("sim", FACTS, [], [], [], 5).conformant
    assert not decide("sim", FACTS, passed, [], [], 2).conformant  # interrupted


# --- node matrix -------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, tzinfo=UTC)
GPU_LABELS = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H200"}


def node(
    name: str, labels: dict[str, str], gpus: int = 0, ready: bool = True, unhealthy: int = 0
) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        status=client.V1NodeStatus(
            # kubelet: capacity counts every device the plugin lists, allocatable the healthy.
            capacity={"nvidia.com/gpu": str(gpus + unhealthy)} if gpus + unhealthy else {},
            allocatable={"nvidia.com/gpu": str(gpus)} if gpus else {},
            conditions=[client.V1NodeCondition(type="Ready", status=str(ready))],
        ),
    )


def plugin_ds(uid: str = "ds-uid") -> client.V1DaemonSet:
    container = client.V1Container(name="nvidia-device-plugin-ctr", image="nvcr.io/x:v1")
    return client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="nvdp", namespace="nvdp", uid=uid),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": "nvdp"}),
            template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[container])),
        ),
    )


def pod(
    name: str,
    node_name: str,
    owner_uid: str | None = None,
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    waiting: str | None = None,
    gpus: int = 0,
    annotations: dict[str, str] | None = None,
    age_s: int = 60,
) -> client.V1Pod:
    owners = [
        client.V1OwnerReference(
            api_version="apps/v1", kind="DaemonSet", name="nvdp", uid=owner_uid, controller=True
        )
        for _ in [owner_uid]
        if owner_uid
    ]
    state = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason=waiting) if waiting else None
    )
    limits = {"nvidia.com/gpu": str(gpus)} if gpus else {}
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            labels={"app": "nvdp"},  # the same labels as the plugin's: ownership decides
            annotations=annotations,
            owner_references=owners or None,
            creation_timestamp=NOW - timedelta(seconds=age_s),
        ),
        spec=client.V1PodSpec(
            node_name=node_name,
            containers=[
                client.V1Container(
                    name="c", image="i", resources=client.V1ResourceRequirements(limits=limits)
                )
            ],
        ),
        status=client.V1PodStatus(
            phase=phase,
            conditions=[client.V1PodCondition(type="Ready", status=str(ready))],
            container_statuses=[
                client.V1ContainerStatus(
                    name="c",
                    ready=ready,
                    restart_count=restarts,
                    image="i",
                    image_id="",
                    state=state,
                )
            ],
        ),
    )


def matrix_snapshot() -> Snapshot:
    nodes = [
        node("gpu-b", GPU_LABELS, gpus=0),
        node("gpu-a", GPU_LABELS, gpus=8),
        node("cpu-0", {"kubernetes.io/os": "linux"}),
        node("gpu-outside", {"feature.node.kubernetes.io/pci-10de.present": "true"}, gpus=4),
    ]
    return Snapshot(
        nodes=nodes,
        expected={"gpu-a", "gpu-b"},
        daemonsets=[plugin_ds()],
        plugin_pods=[
            pod("nvdp-a", "gpu-a", "ds-uid"),
            pod("nvdp-b", "gpu-b", "ds-uid", ready=False, restarts=6, waiting="CrashLoopBackOff"),
            # Same labels, same node, another controller (e.g. an MPS or GFD DaemonSet):
            pod("mps-a", "gpu-a", "other-uid", age_s=1),
        ],
        workload_pods=[
            pod("gpu-workload", "gpu-a", phase="Succeeded", gpus=1),
            pod(
                "gpu-over-request",
                "gpu-b",
                phase="Pending",
                gpus=99,
                annotations={"gpuconform.io/expected-failure": "true"},
            ),
            pod("no-gpu-request", "gpu-a", phase="Failed"),
        ],
    )


def expecting(resources: dict[str, int] | None, pools=("gpu-nodes", "gpu-nodes")) -> dict:
    """gpu-a's and gpu-b's expectations: these resources, from the profile."""
    resource = next(iter(resources or {"nvidia.com/gpu": 0}))
    return {
        node: Expectation(pool, resource, None, "profile", resources)
        for node, pool in zip(("gpu-a", "gpu-b"), pools, strict=True)
    }


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


def test_unhealthy_note_reads_capacity_against_allocatable():
    assert unhealthy_note(node("n", {}, gpus=7, unhealthy=1)) == " (1 of 8 unhealthy)"
    assert unhealthy_note(node("n", {}, gpus=8)) == ""
    assert unhealthy_note(node("n", {})) == ""


def test_a_node_without_a_plugin_pod_is_broken_and_says_why():
    snap = matrix_snapshot()
    snap.plugin_pods = []
    rows = {r.name: r for r in build_node_matrix(snap, expecting(None), {}, {})}
    assert rows["gpu-a"].plugin_pod is None
    assert "no device-plugin pod" in rows["gpu-a"].problems
    assert rows["gpu-a"].probe is None and rows["gpu-a"].gpus_expected is None


def test_node_matrix_html_marks_healthy_and_broken_rows_differently():
    rows = build_node_matrix(
        matrix_snapshot(), expecting({"nvidia.com/gpu": 8}), {}, {"gpu-b": "[driver] <broken>"}
    )
    html = node_matrix_html(rows, "read once")
    assert "<tr class='gc-node gc-ok' data-node='gpu-a'" in html
    assert "<tr class='gc-node gc-broken' data-node='gpu-b'" in html
    assert "<tr class='gc-node gc-unexpected' data-node='gpu-outside'" in html
    assert "[driver] &lt;broken&gt;" in html and "<broken>" not in html
    assert ">OK</span> gpu-a" in html and ">BROKEN</span> gpu-b" in html


def test_verdict_and_steps_html():
    verdict = decide("sim", FACTS, [check("a", "preflight")], [], [], 0)
    assert "id='gpuconform-verdict' class='gc-verdict gc-pass'" in verdict_html(verdict)
    grouped = group_by_step(
        [check("test_ready", "readiness", "failed"), check("test_w", "workload", "skipped")]
    )
    html = steps_html(grouped, {"test_ready": "<details class='gc-evidence'>E</details>"})
    assert html.index("data-step='preflight'") < html.index("data-step='readiness'")
    assert "<tr class='gc-check gc-failed'><td>test_ready<details class='gc-evidence'>" in html
    assert "gc-step gc-not-run" in html


# --- trend and history -------------------------------------------------------------------


def write_run(reports: Path, profile: str, stamp: str, failed: list[str], **extra) -> Path:
    folder = reports / f"{profile}-{stamp}"
    folder.mkdir(parents=True)
    tests = [
        check(
            name,
            "readiness" if name == "test_ready" else "preflight",
            "failed" if name in failed else "passed",
            2.0,
        )
        for name in ("test_nodes", "test_ready")
    ]
    summary = {
        "profile": profile,
        "run_id": stamp,
        "started": stamp,
        "finished": f"{stamp}-done",
        "exit_status": 1 if failed else 0,
        "tests": tests,
        **extra,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_trend_shows_verdicts_step_durations_and_new_failures(tmp_path):
    reports = tmp_path / "reports"
    write_run(reports, "sim", "20261128T010000Z", [])
    write_run(reports, "sim", "20261129T010000Z", ["test_ready"])
    write_run(reports, "sim", "20261130T010000Z", ["test_ready"])
    write_run(reports, "sim-faulty", "20261130T020000Z", ["test_nodes"])  # another profile
    (reports / "sim-20261130T030000Z").mkdir()  # no summary (a run that was killed)
    rows = load_trend(reports, "sim")
    assert [r.run_id for r in rows] == ["20261128T010000Z", "20261129T010000Z", "20261130T010000Z"]
    assert [r.verdict for r in rows] == ["CONFORMANT", "NOT CONFORMANT", "NOT CONFORMANT"]
    assert [r.new_failures for r in rows] == [[], ["test_ready"], []]
    assert rows[0].step_durations == {"preflight": 2.0, "readiness": 2.0}
    assert rows[0].duration_s == 4.0
    assert [r.run_id for r in load_trend(reports, "sim", limit=2)] == [
        "20261129T010000Z",
        "20261130T010000Z",
    ]
    everything = load_trend(reports, None)
    assert {r.profile for r in everything} == {"sim", "sim-faulty"}
    text = format_history(rows)
    lines = text.splitlines()
    assert lines[0].split() == [
        "date",
        "profile",
        "verdict",
        "total",
        "preflight",
        "readiness",
        "new",
        "failures",
    ]
    assert "NOT CONFORMANT" in lines[2] and lines[2].endswith("test_ready")


def test_a_recorded_verdict_wins_over_the_exit_status(tmp_path):
    reports = tmp_path / "reports"
    write_run(reports, "sim", "20261128T010000Z", [], verdict={"verdict": "NOT CONFORMANT"})
    assert load_trend(reports, "sim")[0].verdict == "NOT CONFORMANT"


def test_previous_run_matches_the_profile_exactly(tmp_path):
    reports = tmp_path / "reports"
    older = write_run(reports, "sim", "20261128T010000Z", [])
    write_run(reports, "sim-faulty", "20261129T010000Z", [])
    current = reports / "sim-20261130T010000Z"
    current.mkdir()
    assert previous_run(reports, "sim", current) == older
    assert [p.name for p in run_dirs(reports)] == [
        "sim-20261128T010000Z",
        "sim-faulty-20261129T010000Z",
    ]


def test_history_command_prints_the_trend(tmp_path, capsys):
    from gpuconform.cli import main

    reports = tmp_path / "reports"
    write_run(reports, "sim", "20261128T010000Z", [])
    write_run(reports, "sim", "20261129T010000Z", ["test_ready"])
    assert main(["history", "--profile", "sim", "--reports-dir", str(reports)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("date")
    assert "CONFORMANT" in lines[1] and lines[2].endswith("test_ready")
    assert main(["history", "--profile", "nope", "--reports-dir", str(reports)]) == 1
    assert "no runs of profile nope" in capsys.readouterr().out


# --- GPU node pools ----------------------------------------------------------------------


def test_a_broken_pool_is_named_in_the_verdict_while_the_others_pass():
    tests = [
        check("test_ready[training]", "readiness", pool="training"),
        check("test_ready[inference]", "readiness", "failed", reason="no pod", pool="inference"),
        check("test_ready[shared]", "readiness", pool="shared"),
        check("test_shared[training]", "workload", "skipped", pool="training"),
    ]
    blamed = Diagnosis(
        "test_ready[inference]",
        "one line",
        "readiness",
        layer="device-plugin",
        cause="no plugin pod",
        where="gpu-l40s-0",
        pool="inference",
    )
    verdict = decide("sim-mixed", FACTS, tests, [blamed], [], 1)
    assert not verdict.conformant
    assert "device-plugin on gpu-l40s-0 in pool inference (step readiness" in verdict.reason
    assert verdict.reason.endswith("Pools: inference failed; training, shared passed.")
    # The check's own message as the evidence names no place: the pool does.
    from_message = replace(blamed, where="failed check")
    reason = decide("sim-mixed", FACTS, tests, [from_message], [], 1).reason
    assert reason.startswith("first broken layer: device-plugin in pool inference (step")
    unexplained = decide("sim-mixed", FACTS, tests, [], [], 1)
    assert "step readiness failed in pool inference: test_ready[inference]" in unexplained.reason
    passing = [t | {"outcome": "passed"} for t in tests]
    assert decide("sim-mixed", FACTS, passing, [], [], 0).reason.endswith(
        "Pools: training, inference, shared passed."
    )
    # One pool: nothing about pools.
    single = [check("test_ready", "readiness")]
    assert "Pools" not in decide("sim", FACTS, single, [], [], 0).reason


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
