"""The verdict (gpuconform/report/verdict.py): conformant or the first broken layer, its fix,
and the pools."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.report.verdict import Diagnosis, decide
from tests.gpuconform.report.fakes import FACTS, check

DATA = Path(__file__).resolve().parents[2] / "data"


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
