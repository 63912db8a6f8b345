"""The plugin's control flow is the Lifecycle's, not pytest's registration order."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re

import pytest

import gpuconform_pytest
from gpuconform_pytest.lifecycle import PHASES
from tests.fixtures.suite_run import run_suite

HOOKS_MODULE = "gpuconform_pytest.hooks"


def plugin_modules() -> list[str]:
    return [f"gpuconform_pytest.{m.name}" for m in pkgutil.iter_modules(gpuconform_pytest.__path__)]


def test_only_the_hooks_module_implements_hooks_and_each_kind_once():
    implemented: dict[str, list[str]] = {}
    for name in plugin_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            is_hook = attr.startswith("pytest_") and inspect.isfunction(value)
            if is_hook and value.__module__ == name:
                implemented.setdefault(attr, []).append(name)
    assert implemented, "no hook found: the scan is broken"
    for hook, modules in implemented.items():
        assert modules == [HOOKS_MODULE], f"{hook} implemented in {modules}"
    assert gpuconform_pytest.pytest_plugins == [HOOKS_MODULE, "gpuconform_pytest.cluster"]


def test_the_phases_are_listed_in_run_order():
    assert PHASES.index("gate") < PHASES.index("install") < PHASES.index("steps")
    assert PHASES.index("snapshot") < PHASES.index("uninstall") < PHASES.index("clean up")
    assert PHASES[-1] == "report"


def comparable(summary: dict) -> dict:
    """What must not depend on registration order: outcomes, reasons, verdict, diagnoses."""
    run_id = summary["run_id"]

    def scrub(text: str) -> str:
        text = text.replace(run_id, "<run>")
        return re.sub(r"\d+(\.\d+)?\s?s\b", "<t>", text)

    return {
        "tests": [
            {k: scrub(str(v)) for k, v in t.items() if k != "duration_s"} for t in summary["tests"]
        ],
        "verdict": scrub(summary["verdict"]["verdict"] + summary["verdict"]["reason"]),
        "diagnoses": [scrub(d["diagnosis"]) for d in summary["diagnoses"]],
        "facts": sorted(summary["facts"]),
        "steps": [(s["name"], s["outcome"]) for s in summary["steps"]],
        "nodes": [(n["name"], n["healthy"]) for n in summary["nodes"]],
    }


def report_sections(html: str) -> list[str]:
    return re.findall(r"<h2[^>]*>([^<]+)</h2>", html)


@pytest.mark.suite_run
def test_modules_registered_in_either_order_give_the_same_report(tmp_path):
    runs = []
    orders = (
        [HOOKS_MODULE, "gpuconform_pytest.cluster"],
        ["gpuconform_pytest.cluster", HOOKS_MODULE],
    )
    for index, order in enumerate(orders):
        plugins = [arg for module in order for arg in ("-p", module)]
        run = run_suite(
            tmp_path / str(index), "--cluster=sim-unlabeled", "-p", "no:gpuconform", *plugins
        )
        # sim-unlabeled (one real GPU node) fails at once, with a diagnosis and a node matrix.
        assert run.returncode == 1, run.output[-3000:]
        runs.append(run)
    first, second = (json.loads((r.report_dir / "summary.json").read_text()) for r in runs)
    assert first["diagnoses"], "the faulty run was not diagnosed: the comparison proves little"
    assert comparable(first) == comparable(second)
    assert report_sections(runs[0].html()) == report_sections(runs[1].html())
    assert runs[0].output.rstrip().splitlines()[-2].startswith("NOT CONFORMANT")
