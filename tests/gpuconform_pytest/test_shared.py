"""The `step` markers of suites/: each names a step of report.yaml, needs only earlier steps,
and declares known evidence kinds to collect when it fails (pure logic: no cluster)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from gpuconform.diagnose.collect import EvidenceKind
from gpuconform.report.layout import steps
from gpuconform_pytest.shared import step_mark

SUITES = Path(__file__).resolve().parents[2] / "suites"


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"suites_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _marks() -> dict[str, pytest.Mark]:
    """Every `step` mark in suites/, by where it is: a module's, or a check's own."""
    found: dict[str, pytest.Mark] = {}
    for path in sorted(SUITES.glob("test_*.py")):
        module = _module(path)
        own = getattr(module, "pytestmark", None)
        assert own is not None and own.mark.name == "step", f"{path.name} declares no step"
        found[path.name] = own.mark
        for name, check in vars(module).items():
            for mark in getattr(check, "pytestmark", []) if name.startswith("test_") else []:
                if mark.name == "step":
                    found[f"{path.name}::{name}"] = mark
    return found


class _Item:
    """What step_mark reads of a pytest item: its closest `step` marker and its id."""

    def __init__(self, mark: pytest.Mark, nodeid: str = "suites/test_x.py::test_y") -> None:
        self.mark, self.nodeid = mark, nodeid

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.mark if name == "step" else None


def test_every_suite_module_declares_a_known_step_its_needs_and_its_evidence():
    order = [s.name for s in steps()]
    marks = _marks()
    assert len([m for m in marks if "::" not in m]) == len(list(SUITES.glob("test_*.py")))
    for where, mark in marks.items():
        name = mark.args[0]
        assert name in order, f"{where}: {name} is not a step of report.yaml"
        for need in mark.kwargs["needs"]:
            assert need in order[: order.index(name)], f"{where}: {name} needs {need}"
        evidence = mark.kwargs["evidence"]
        assert evidence, f"{where}: {name} declares no evidence to collect"
        assert set(evidence) <= {k.value for k in EvidenceKind}, (where, evidence)
        declared = step_mark(_Item(mark, where))
        assert declared is not None and declared.name == name


def test_every_step_of_report_yaml_is_declared_in_suites():
    declared = {m.args[0] for m in _marks().values()}
    assert declared == {s.name for s in steps()}


def test_the_needs_and_evidence_the_diagnoses_rely_on_are_declared():
    marks = {m.args[0]: step_mark(_Item(m)) for m in _marks().values()}
    assert marks["preflight"].needs == ()
    assert marks["advertise"].needs == ("preflight", "install", "readiness")
    assert marks["uninstall"].needs == ("install",)
    # Readiness is judged by the plugin's events and logs and the node probe (fault profiles);
    # a workload's by its own pod's events (an image that cannot be pulled).
    plugin_side = {"plugin", "nodes", "node-probe"}
    for step in ("readiness", "advertise", "health", "workload", "scheduling", "dra", "upgrade"):
        assert plugin_side <= marks[step].evidence, step
    for step in ("workload", "scheduling", "dra", "upgrade"):
        assert "workload" in marks[step].evidence, step
    # No privileged probe pod is made after the plugin was uninstalled.
    assert EvidenceKind.NODE_PROBE not in marks["uninstall"].evidence


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"needs": ["advertise"], "evidence": ["nodes"]}, "do not run before it"),
        ({"needs": ["preflight"], "evidence": ["kubelet-log"]}, "unknown evidence ['kubelet-log']"),
    ],
)
def test_a_step_marker_with_a_mistake_is_a_usage_error(kwargs, says):
    mark = pytest.mark.step("readiness", **kwargs).mark
    with pytest.raises(pytest.UsageError, match=r"test_x.py::test_y: step 'readiness'") as err:
        step_mark(_Item(mark))
    assert says in str(err.value)


def test_a_step_that_report_yaml_does_not_list_is_a_usage_error():
    with pytest.raises(pytest.UsageError, match=r"is not a step of report\.yaml"):
        step_mark(_Item(pytest.mark.step("no-such-step").mark))
    assert step_mark(SimpleNamespace(get_closest_marker=lambda name: None)) is None
