"""The report in a real browser: Debian's chromium, headless, renders a passing and a failing
report produced by real suite runs on the simulated cluster; the verdict, the node matrix and
the step groups must be in the rendered DOM (pytest-html builds its results table in script,
so only a browser shows what a reader sees). Screenshots go to docs/ with
GPUCONFORM_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gpuconform.report.layout import steps
from tests.fixtures.suite_run import REPO, SuiteRun, run_suite

CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = "chromium is not installed (run `make browser` as root, or apt-get install chromium)"
pytestmark = [
    pytest.mark.suite_run,
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
]
STEPS = [s.name for s in steps()]  # runbook order (tests/gpuconform/report/test_steps.py pins it)
BROWSER_TIMEOUT_S = 120


class Dom(HTMLParser):
    """The rendered page as elements: tag, attributes and the text inside each."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "col", "wbr"}

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        for n in range(len(self._open) - 1, -1, -1):
            if self._open[n]["tag"] == tag:
                del self._open[n:]
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def find(self, **attrs) -> list[dict]:
        return [e for e in self.elements if all(e["attrs"].get(k) == v for k, v in attrs.items())]

    def by_class(self, name: str) -> list[dict]:
        return [e for e in self.elements if name in (e["attrs"].get("class") or "").split()]

    def index(self, element: dict) -> int:
        return next(n for n, e in enumerate(self.elements) if e is element)


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=True,
    )


def rendered(run: SuiteRun, tmp_path: Path, name: str) -> Dom:
    """The report's DOM after chromium ran its script; a screenshot of it as well."""
    report = run.report_dir / "report.html"
    dom = chromium("--dump-dom", report.as_uri()).stdout
    shot = tmp_path / f"report-{name}.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("GPUCONFORM_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, REPO / "docs" / shot.name)
    return Dom(dom)


@pytest.fixture(scope="module")
def passing(tmp_path_factory) -> SuiteRun:
    return run_suite(tmp_path_factory.mktemp("passing"), "--cluster=sim")


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> SuiteRun:
    return run_suite(tmp_path_factory.mktemp("failing"), "--cluster=sim-faulty")


def matrix_rows(dom: Dom) -> dict[str, dict]:
    return {row["attrs"]["data-node"]: row for row in dom.by_class("gc-node")}


def open_report(run: SuiteRun, tmp_path: Path, conformant: bool) -> tuple[Dom, str]:
    """The rendered report, checked for what every report shows: verdict first, the matrix,
    all steps in order, the results table in runbook order. Returns the DOM and the verdict's
    text, which the terminal's last lines must say too.
    """
    assert run.returncode == (0 if conformant else 1), run.output[-3000:]
    dom = rendered(run, tmp_path, "passing" if conformant else "failing")
    (verdict,) = dom.find(id="gpuconform-verdict")
    assert ("gc-pass" if conformant else "gc-fail") in verdict["attrs"]["class"]
    text = " ".join(verdict["text"].split())
    last = run.output.strip().splitlines()[-3:]
    assert text in last, (text, last)
    (matrix,) = dom.find(id="gpuconform-node-matrix")
    (steps,) = dom.find(id="gpuconform-steps")
    results = [e for e in dom.by_class("col-step") if e["tag"] == "td"]
    assert dom.index(verdict) < dom.index(matrix) < dom.index(steps) < dom.index(results[0])
    assert [s["attrs"]["data-step"] for s in dom.by_class("gc-step")] == STEPS
    # pytest-html's table, built by its script: every check, in runbook order, with its step.
    order = [STEPS.index(e["text"].split(". ", 1)[1]) for e in results]
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert len(order) == len(summary["tests"]) and order == sorted(order), [
        e["text"] for e in results
    ]
    # A skip says why in words, never as pytest's (path, line, reason) tuple.
    assert not re.search(r"\('/[^']*', \d+, 'Skipped", "".join(e["text"] for e in dom.elements))
    # One self-contained file: nothing loaded from elsewhere.
    markup = (run.report_dir / "report.html").read_text()
    assert ".gc-verdict.gc-pass {" in markup  # our stylesheet, inlined through --css
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"?https?:", markup)
    rows = matrix_rows(dom)
    assert [n["name"] for n in summary["nodes"]] == list(rows)
    for node in summary["nodes"]:
        state = "gc-ok" if node["healthy"] else "gc-broken"
        assert state in rows[node["name"]]["attrs"]["class"]
    return dom, text


def test_passing_report_in_the_browser(passing, tmp_path):
    dom, verdict = open_report(passing, tmp_path, conformant=True)
    assert verdict.startswith("CONFORMANT - profile sim, cluster sim (simulated)")
    assert "chart nvidia-device-plugin-0.20.0" in verdict
    rows = matrix_rows(dom)
    assert list(rows) == ["gpu-node-0", "gpu-node-1", "gpu-node-2"]
    for row in rows.values():
        assert "gc-ok" in row["attrs"]["class"] and "8 / 8" in row["text"]
        assert "Running, 0 restarts" in row["text"]
    assert sum("gpu-workload: Succeeded" in r["text"] for r in rows.values()) == 1
    upgrade = dom.find(**{"data-step": "upgrade"})[0]
    assert "gc-skipped" in upgrade["attrs"]["class"]
    assert "No --upgrade-from given: nothing to upgrade." in upgrade["text"]


def test_failing_report_in_the_browser(failing, tmp_path):
    dom, text = open_report(failing, tmp_path, conformant=False)
    assert text.startswith("NOT CONFORMANT - profile sim-faulty")
    assert "first broken layer: driver on gpu-broken-0 (step readiness" in text
    assert "libnvidia-ml.so.1" in text
    assert "Fix: Install the driver's user-space libraries" in text
    rows = matrix_rows(dom)
    assert list(rows) == ["gpu-broken-0", "gpu-node-0"]
    broken = rows["gpu-broken-0"]
    assert "gc-broken" in broken["attrs"]["class"]
    # The real runtime refuses the plugin container its CDI devices, so it never starts: the
    # kubelet says RunContainerError, then CrashLoopBackOff while it backs off.
    assert "RunContainerError" in broken["text"] or "CrashLoopBackOff" in broken["text"], broken
    assert "0 / 8" in broken["text"], broken
    assert "[driver] libnvidia-ml.so.1" in broken["text"]
    assert "gc-ok" in rows["gpu-node-0"]["attrs"]["class"]
    readiness = dom.find(**{"data-step": "readiness"})[0]
    assert "gc-failed" in readiness["attrs"]["class"]
    # Under the failing check: its diagnosis, and the evidence folded (not open).
    evidence = [e for e in dom.by_class("gc-evidence") if e["tag"] == "details"]
    assert len(evidence) == 1 and "open" not in evidence[0]["attrs"]
    assert dom.index(readiness) < dom.index(evidence[0])
    assert "node-probe: gpu-broken-0" in evidence[0]["text"]
    workload = dom.find(**{"data-step": "workload"})[0]
    assert "gc-skipped" in workload["attrs"]["class"]
    assert "Needs step 'readiness', which failed:" in workload["text"]
