"""The run's lifecycle in one place: its phases, in order, and what each hands to the next.

```
configure  profile + report paths                          -> RunState       (session.py)
gate       start the cluster; API, permissions, chart, pools, plugin present/absent,
           which path hands out GPUs                       -> RunContext     (session.py,
                                                                              allocation.py)
install    the `release` fixture, the first time a step needs it            (cluster.py)
steps      suites/ in runbook order; a step whose need failed is skipped    (steps.py)
diagnose   a failed step: collect -> explain -> redact -> attach            (diagnostics.py)
snapshot   the node matrix's objects, before the plugin is uninstalled      (report.py)
uninstall  the uninstall step, else the `release` fixture's teardown        (cluster.py)
clean up   delete what carries the run id, leak check, stop the cluster     (session.py)
report     summary.json, verdict, steps, node matrix, trend; HTML, terminal (history.py, report.py)
```

pytest's hooks (hooks.py, one of each kind) only call the methods below; the order of the
phases is the order of the statements here, never the order in which modules registered.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from gpuconform_pytest import allocation, diagnostics, history, report, session, steps
from gpuconform_pytest.shared import step_of
from gpuconform_pytest.state import STATE_KEY, RunState, state_of

PHASES = (
    "configure",
    "gate",
    "install",
    "steps",
    "diagnose",
    "snapshot",
    "uninstall",
    "clean up",
    "report",
)


class Lifecycle:
    """Owns one run: pytest calls in at each point of its own session, this decides what runs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @property
    def state(self) -> RunState | None:
        return state_of(self.config)

    # configure
    def configure(self) -> None:
        if not self.config.getoption("cluster"):
            return
        self.config.stash[STATE_KEY] = session.configure(self.config)
        report.add_css(self.config)  # before pytest-html's configure reads --css
        _keep_out_of_collections()

    # gate
    def gate(self) -> None:
        if self.state is None or self.config.option.collectonly:
            return
        # The gate imports the Kubernetes client: objects the run keeps and hardly any garbage
        # (654 objects after importing its API classes), so collections would walk them for
        # nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            session.gate(self.config, self.state)
        finally:
            if collecting:
                gc.enable()
        _keep_out_of_collections()  # the client's models, imported by the gate

    def collected(self, items: list[pytest.Item]) -> None:
        steps.require_cluster(self.config, items)
        if self.state is not None:
            allocation.leave_out_dra_step(self.config, items, self.state)

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        """A check that takes `pool` runs once per GPU node pool when the profile has several
        (`test_x[inference]`); with one pool its name stays `test_x`."""
        pools = self.state.profile.pools if self.state is not None else []
        if "pool" in metafunc.fixturenames and len(pools) > 1:
            names = [p.name for p in pools]
            metafunc.parametrize("pool", names, ids=names, indirect=True)

    # steps
    def before_check(self, item: pytest.Item) -> None:
        if self.state is None:
            return
        if step_of(item)[0] == report.SNAPSHOT_BEFORE_STEP:
            report.snapshot(self.state)
        allocation.skip_device_plugin_step(item, self.state)
        steps.skip_if_a_need_failed(item, self.state)

    def before_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if self.state is None:
            return
        if nextitem is None:
            report.snapshot(self.state)  # the session fixtures (the installed plugin) go next
        elif allocation.leaves_dra_step(item, nextitem, self.state):
            report.snapshot(self.state)  # the dra step's fixture (the DRA driver) goes next

    def after_check(
        self, item: pytest.Item, call: pytest.CallInfo, result: pytest.TestReport
    ) -> None:
        result.gpuconform_step = step_of(item)[0]
        if self.state is None:
            return
        history.record(item, call, result, self.state)
        if call.when == "call":
            # Only the last check may vouch for the end state: a later one may create more.
            clean = result.passed and item.get_closest_marker("verifies_clean") is not None
            self.state.verified_clean = clean
        steps.record_failure(item, call, result, self.state)
        diagnostics.diagnose(item, call, result, self.state)

    # clean up, then the report's data
    def finish(self, pytest_session: pytest.Session) -> None:
        state = self.state
        if state is None:
            return
        try:
            session.clean_up(self.config, pytest_session, state)
        finally:
            history.write(self.config, state, pytest_session.exitstatus)

    # report
    def html_summary(self, prefix: list[str]) -> None:
        state = self.state
        if state is None:
            return
        prefix[:0] = report.summary_sections(state)
        prefix += session.run_table_html(state)
        comparison = history.comparison_html(state)
        if comparison:
            prefix.append(comparison)

    @staticmethod
    def html_header(cells: list[str]) -> None:
        report.table_header(cells)

    @staticmethod
    def html_row(result: Any, cells: list[str]) -> None:
        report.table_row(result, cells)

    @staticmethod
    def html_row_data(result: pytest.TestReport, data: list[str]) -> None:
        diagnostics.results_table_html(result, data)  # a failed check's diagnosis
        report.skip_sentence_html(result, data)  # a skipped check's reason

    def terminal_end(self, terminalreporter: Any) -> None:
        state = self.state
        if state is None:
            return
        lines = diagnostics.terminal_lines(state)
        if lines:
            terminalreporter.write_sep("=", "gpuconform diagnosis")
            for line in lines:
                terminalreporter.write_line(line)
        report.write_verdict(terminalreporter, state)


def _keep_out_of_collections() -> None:
    """Move every object alive now out of the garbage collector's sight, for the rest of the
    process: what the run imported (pytest, its plugins, the Kubernetes client's pydantic
    models) lives until the process ends. Python walks every tracked object at each full
    collection and once more at exit: at 4 GPU nodes 0.9 s of collections and 0.7 s of exit
    in a 14.6 s run (BENCHMARKS.md, issue 18). Objects created later are collected as
    before; the suite runs in a process of its own, so nothing here outlives its run.
    """
    gc.freeze()
