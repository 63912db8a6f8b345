"""The whole test tree, as `make test` runs it on pytest-xdist workers (`--dist loadscope`).

A test that uses a shared cluster fixture (module-, package- or session-scoped, of this tree)
runs on the same worker as every other test that shares it, so each such cluster starts once;
every other test is its own unit and goes to the next free worker. The groups come from the
fixtures themselves (`shared_fixture_group`): each worker writes the group of every test it
collected into a folder the controller names, and `SharedClusterScheduling` (xdist's
loadscope, with that group as the scope) reads it once the collections are complete. The
largest groups are handed out first, then single tests in collection order: the slow tiers
first, the unit tests filling the gaps at the end.

Tiers are markers, not folders (tests mirror the packages: tests/<package>/test_<module>.py).
A test is `sim` when it uses the simulated cluster, `real_node` when its cluster has real
nodes, `suite_run` when it runs the conformance suite (`pytest --cluster=...`) end to end; no
marker: a unit test. The marker comes from the fixture that owns the cluster where there is
one (`TIER_OF_FIXTURE`: exact, wherever the test sits), else from the module's `pytestmark`
(modules that start their own clusters). `real_node` and `suite_run` imply `sim`, so
`-m "not sim"` is the unit tier. The shared clusters are session fixtures of tests/fixtures/
(one module per cluster, so each starts once per worker and is one scheduling group), taken
down as soon as the last test that needs it is done (`pytest_runtest_teardown`).

Not xdist's own `xdist_group` marks: pytest-xdist 3.8 marks a group by rewriting
`item._nodeid`, and pytest 9.2 keeps a node's id in `item._id` (`_pytest/nodes.py`), so the
marks have no effect here (two tests of one group ran on two workers).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

pytest_plugins = (
    "tests.fixtures.sim_cluster",
    "tests.fixtures.real_cluster",
    "tests.fixtures.suite_run",
)

TESTS = Path(__file__).resolve().parent
# The slow tiers first, by marker (pyproject.toml declares them); unmarked tests last.
TIER_ORDER = ("suite_run", "real_node", "sim")
# The fixtures that own a shared cluster, and the tier of every test that uses one.
TIER_OF_FIXTURE = {"sim_cluster": "sim", "shared_cluster": "sim", "real_cluster": "real_node"}
# Tiers that also need the simulated cluster: `-m "not sim"` leaves them out too.
IMPLIES_SIM = ("real_node", "suite_run")
# The widest scope a shared fixture has decides the group: a shared (session) cluster takes in
# the module fixtures that build on it.
SHARED_SCOPES = ("session", "package", "module")


def _tier(item: pytest.Item) -> int:
    marks = {mark.name for mark in item.iter_markers()}
    return next((i for i, tier in enumerate(TIER_ORDER) if tier in marks), len(TIER_ORDER))


def mark_tier(item: pytest.Item) -> None:
    """Add the tier markers the item's cluster fixtures say (and `sim` under the tiers that
    imply it) to those its module or function set."""
    names = getattr(getattr(item, "_fixtureinfo", None), "names_closure", ())
    marks = {mark.name for mark in item.iter_markers()}
    wanted = {TIER_OF_FIXTURE[name] for name in names if name in TIER_OF_FIXTURE}
    if marks & set(IMPLIES_SIM) or wanted & set(IMPLIES_SIM):
        wanted.add("sim")
    for name in sorted(wanted - marks):
        item.add_marker(name)


def shared_fixture_group(item: pytest.Item) -> str | None:
    """`scope:where` of the widest-scoped fixture of this tree the item uses: a module's own
    fixtures are shared within the module, a package's within its folder, a session's within
    the file that defines it (a tests/fixtures module: one per cluster)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    found = []
    for name in info.names_closure:
        # The definition in force only: a module's own `core` does not join the shared
        # cluster whose `core` it overrides (unless it asks for that cluster itself).
        for fixturedef in info.name2fixturedefs.get(name, ())[-1:]:
            source = Path(fixturedef.func.__code__.co_filename)
            if fixturedef.scope in SHARED_SCOPES and source.is_relative_to(TESTS):
                where = {"module": item.path, "package": source.parent}.get(
                    fixturedef.scope, source
                )
                rank = SHARED_SCOPES.index(fixturedef.scope)
                found.append((rank, f"{fixturedef.scope}:{where.relative_to(TESTS)}"))
    return min(found)[1] if found else None


# The folder the workers write their tests' groups into: its key in workerinput, and the
# controller's copy of it.
GROUPS_DIR = "gpuconform_groups_dir"
GROUPS_DIR_KEY = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        mark_tier(item)
    groups = {item.nodeid: shared_fixture_group(item) for item in items}
    # Stable: within a tier and a group, files and tests keep their order. Each group's tests
    # run one after another (xdist hands a group to one worker in this order), so its
    # shared cluster can go as soon as the last of them is done (pytest_runtest_teardown).
    items.sort(
        key=lambda item: (groups[item.nodeid] is None, _tier(item), groups[item.nodeid] or "")
    )
    worker = getattr(config, "workerinput", None)
    if worker is not None and GROUPS_DIR in worker:
        path = Path(worker[GROUPS_DIR]) / f"{worker['workerid']}.json"
        path.write_text(json.dumps(groups))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Take a shared cluster down once the next test does not need it, rather than at the
    end of the worker's session: the shared clusters are session fixtures (so that tests in
    any folder can share one), and an idle cluster would otherwise keep its control plane and
    real nodes running beside every later test of that worker. A test that needs it later
    starts it again; the grouping above keeps that from happening in a normal run."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return
    needed_next = getattr(getattr(nextitem, "_fixtureinfo", None), "names_closure", ())
    for name in TIER_OF_FIXTURE:
        if name in info.names_closure and name not in needed_next:
            for fixturedef in info.name2fixturedefs.get(name, ())[-1:]:
                # Its dependants (core, apps, kubectl, ...) registered their own finish with
                # it, so they go first; pytest's session finalizer finds it finished.
                fixturedef.finish(item._request)


class SharedClusterScheduling(LoadScopeScheduling):
    """loadscope whose scope is a test's shared cluster fixture group, or the test alone."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        super().__init__(config, log)
        self.groups_dir = Path(config.stash[GROUPS_DIR_KEY])
        self.groups: dict[str, str | None] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self.groups is None:
            # Called only once every worker has sent its collection, so each wrote its file;
            # the collections are identical (xdist checks), so any one will do.
            written = sorted(self.groups_dir.glob("*.json"))
            assert written, f"no worker wrote its test groups into {self.groups_dir}"
            self.groups = json.loads(written[0].read_text())
        return self.groups.get(nodeid) or nodeid


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or config.getvalue("dist") != "loadscope":
        return
    groups_dir = tempfile.mkdtemp(prefix="gpuconform-test-groups-")
    config.stash[GROUPS_DIR_KEY] = groups_dir
    config.add_cleanup(lambda: shutil.rmtree(groups_dir, ignore_errors=True))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    # Only under `--dist loadscope`: other modes (`-n 2` alone is `--dist load`) need no groups.
    if GROUPS_DIR_KEY in node.config.stash:
        node.workerinput[GROUPS_DIR] = node.config.stash[GROUPS_DIR_KEY]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if GROUPS_DIR_KEY in config.stash:
        return SharedClusterScheduling(config, log)
    return None
