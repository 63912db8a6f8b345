"""Which path hands out GPUs in this run (profile `allocation`, issue 19): on the DRA path the
device-plugin steps do not apply and are skipped, before their fixtures would install the
device plugin (both advertising one node's GPUs would hand each out twice); on the
device-plugin path the dra step is left out."""

from __future__ import annotations

import dataclasses

import pytest
from kubernetes import client

from gpuconform.dra_install import resolve_allocation
from gpuconform.profile import ALLOCATIONS
from gpuconform_pytest.shared import PROFILE_KEY, RUN_KEY, step_of

ALLOCATION_KEY = pytest.StashKey[tuple[str, str]]()
DRA_STEPS = {"preflight", "dra"}  # what runs on the DRA path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gpuconform").addoption(
        "--allocation",
        choices=ALLOCATIONS,
        help="how pods get GPUs: device-plugin, dra, or auto (dra when DeviceClass "
        "gpu.nvidia.com exists); overrides the profile's `allocation`",
    )


def pytest_configure(config: pytest.Config) -> None:
    """--allocation over the profile the session plugin resolved (its configure runs first)."""
    chosen = config.getoption("allocation", None)
    if chosen and PROFILE_KEY in config.stash:
        config.stash[PROFILE_KEY] = dataclasses.replace(
            config.stash[PROFILE_KEY], allocation=chosen
        )


def allocation(config: pytest.Config) -> tuple[str, str] | None:
    """("dra" | "device-plugin", why), resolved once per run; None without a cluster."""
    ctx = config.stash.get(RUN_KEY, None)
    if ctx is None:
        return None
    if ALLOCATION_KEY not in config.stash:
        custom = client.CustomObjectsApi(ctx.kube.core.api_client)
        config.stash[ALLOCATION_KEY] = resolve_allocation(ctx.profile, custom)
        path, why = config.stash[ALLOCATION_KEY]
        ctx.facts["GPU allocation"] = f"{path} ({why})"
    return config.stash[ALLOCATION_KEY]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the device-plugin path the dra step is left out (the session gate has connected by
    now); the report's facts say which path ran and why."""
    resolved = allocation(config)
    if resolved is None or resolved[0] != "device-plugin":
        return
    dropped = [i for i in items if step_of(i)[0] == "dra"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if step_of(i)[0] != "dra"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    step, _ = step_of(item)
    if step is None or step in DRA_STEPS:
        return
    resolved = allocation(item.config)
    if resolved and resolved[0] == "dra":
        pytest.skip(f"a device-plugin step: GPUs are handed out by the DRA driver ({resolved[1]})")
