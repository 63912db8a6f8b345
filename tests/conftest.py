"""The whole test tree: slow tiers run first, so that `make test`'s workers (pytest-xdist,
`--dist worksteal`) share the long cluster runs instead of one of them finishing alone."""

from __future__ import annotations

import pytest

# Heaviest first: each suite run starts its own simulated cluster; the real-node tier shares
# one per worker; the unit tests take milliseconds each and fill the gaps at the end.
TIER_ORDER = ("tests/suite/", "tests/realnode/", "tests/gpuconform_pytest/", "tests/sim/")


def _tier(item: pytest.Item) -> int:
    path = item.nodeid
    return next((i for i, tier in enumerate(TIER_ORDER) if path.startswith(tier)), len(TIER_ORDER))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: within a tier, files and tests keep their order (package fixtures stay
    # contiguous per worker).
    items.sort(key=_tier)
