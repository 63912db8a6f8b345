"""The whole test tree, as `make test` runs it on pytest-xdist workers (`--dist loadscope`).

A test that uses a shared cluster fixture (module-, package- or session-scoped, of this tree)
runs on the same worker as every other test that shares it, so each such cluster starts once;
every other test is its own unit and goes to the next free worker. The groups come from the
fixtures themselves (`shared_fixture_group`): each worker writes the group of every test it
collected into a folder the controller names, and `SharedClusterScheduling` (xdist's
loadscope, with that group as the scope) reads it once the collections are complete. The
largest groups are handed out first, then single tests in collection order: the slow tiers
first, the unit tests filling the gaps at the end.

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

TESTS = Path(__file__).resolve().parent
TIER_ORDER = ("tests/suite/", "tests/realnode/", "tests/gpuconform_pytest/", "tests/sim/")
# The widest scope a shared fixture has decides the group: a package's cluster takes in the
# module fixtures that build on it.
SHARED_SCOPES = ("session", "package", "module")


def _tier(item: pytest.Item) -> int:
    path = item.nodeid
    return next((i for i, tier in enumerate(TIER_ORDER) if path.startswith(tier)), len(TIER_ORDER))


def shared_fixture_group(item: pytest.Item) -> str | None:
    """`scope:where` of the widest-scoped fixture of this tree the item uses: a module's own
    fixtures are shared within the module, a package's within its folder, a session's within
    the folder of the conftest that defines it."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    found = []
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            source = Path(fixturedef.func.__code__.co_filename)
            if fixturedef.scope in SHARED_SCOPES and source.is_relative_to(TESTS):
                where = item.path if fixturedef.scope == "module" else source.parent
                rank = SHARED_SCOPES.index(fixturedef.scope)
                found.append((rank, f"{fixturedef.scope}:{where.relative_to(TESTS)}"))
    return min(found)[1] if found else None


# The folder the workers write their tests' groups into: its key in workerinput, and the
# controller's copy of it.
GROUPS_DIR = "gpuconform_groups_dir"
GROUPS_DIR_KEY = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {item.nodeid: shared_fixture_group(item) for item in items}
    # Stable: within a tier, files and tests keep their order.
    items.sort(key=lambda item: (groups[item.nodeid] is None, _tier(item)))
    worker = getattr(config, "workerinput", None)
    if worker is not None and GROUPS_DIR in worker:
        path = Path(worker[GROUPS_DIR]) / f"{worker['workerid']}.json"
        path.write_text(json.dumps(groups))


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
