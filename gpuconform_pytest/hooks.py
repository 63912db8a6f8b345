"""pytest's entry into the run: one hook of each kind, each a call into the Lifecycle.

No other module of the plugin implements a hook (tests/gpuconform_pytest/test_hooks.py checks
it), so the order in which pytest registered the modules cannot change what a run does.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpuconform_pytest import options
from gpuconform_pytest.lifecycle import Lifecycle

LIFECYCLE_KEY = pytest.StashKey[Lifecycle]()


def _lifecycle(config: pytest.Config) -> Lifecycle:
    return config.stash[LIFECYCLE_KEY]


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    options.fix_rootdir(early_config)


@pytest.hookimpl(tryfirst=True)  # before pytest-html's, which reads --html and --css
def pytest_configure(config: pytest.Config) -> None:
    config.stash[LIFECYCLE_KEY] = Lifecycle(config)
    _lifecycle(config).configure()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _lifecycle(session.config).gate()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    _lifecycle(metafunc.config).parametrize(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _lifecycle(config).collected(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _lifecycle(item.config).before_check(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    _lifecycle(item.config).before_teardown(item, nextitem)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    result = yield
    _lifecycle(item.config).after_check(item, call, result)
    return result


@pytest.hookimpl(trylast=True)  # after pytest tore the fixtures down (helm uninstall)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _lifecycle(session.config).finish(session)


@pytest.hookimpl(tryfirst=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    _lifecycle(session.config).html_summary(prefix)


def pytest_html_results_table_header(cells: list[str]) -> None:
    Lifecycle.html_header(cells)


def pytest_html_results_table_row(report: Any, cells: list[str]) -> None:
    Lifecycle.html_row(report, cells)


def pytest_html_results_table_html(report: pytest.TestReport, data: list[str]) -> None:
    Lifecycle.html_row_data(report, data)


def pytest_html_report_title(report: Any) -> None:
    report.title = "gpuconform - NVIDIA device plugin conformance"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config):
    result = yield
    _lifecycle(config).terminal_end(terminalreporter)  # last: the line a person reads
    return result
