"""The whole test tree, as `make test` runs it on pytest-xdist workers (`--dist loadgroup`).

With no `xdist_group` marks, loadgroup hands each test, in collection order, to the next free
worker. So the order decides: tests that use a shared cluster fixture (module-, package- or
session-scoped, of this tree) first, so each worker starts that cluster early and reuses it,
then the slow tiers; the unit tests fill the gaps at the end. A worker that runs such a test
starts its own copy of the cluster.

Not grouped on purpose: pytest-xdist 3.8 marks a group by rewriting `item._nodeid`, and pytest
9.2 keeps a node's id in `item._id` (`_pytest/nodes.py`), so `xdist_group` marks have no effect
here (two tests of one group ran on two workers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Stable: within a tier, files and tests keep their order.
    items.sort(key=lambda item: (shared_fixture_group(item) is None, _tier(item)))
