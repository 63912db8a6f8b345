"""Which path hands out GPUs in this run (profile `allocation`, issue 19).

Resolved once, in the gate (`resolve`). On the DRA path the device-plugin steps do not apply
and are skipped before their fixtures would install the device plugin (both advertising one
node's GPUs would hand each out twice); on the device-plugin path the dra step is left out.
The Lifecycle calls these; no hook lives here.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from gpuconform.dra_install import resolve_allocation
from gpuconform.run import RunContext
from gpuconform_pytest.shared import step_of
from gpuconform_pytest.state import RunState

DRA_STEPS = {"preflight", "dra", "metrics"}  # what runs on the DRA path (metrics: both)


class AllocationError(RuntimeError):
    """`allocation: auto` could not read the cluster's DeviceClasses."""


def resolve(ctx: RunContext) -> tuple[str, str]:
    """("dra" | "device-plugin", why) for the run's cluster; AllocationError if auto cannot
    tell."""
    custom = client.CustomObjectsApi(ctx.kube.core.api_client)
    try:
        return resolve_allocation(ctx.profile, custom)
    except ApiException as err:
        raise AllocationError(
            f"allocation auto: cannot read DeviceClasses ({err.status} {err.reason}); "
            "grant get on deviceclasses.resource.k8s.io, or set allocation: device-plugin or dra"
        ) from None


def leave_out_dra_step(config: pytest.Config, items: list[pytest.Item], state: RunState) -> None:
    """On the device-plugin path the dra step is deselected (the report's facts say why)."""
    if state.allocation is None or state.allocation[0] != "device-plugin":
        return
    dropped = [i for i in items if step_of(i)[0] == "dra"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if step_of(i)[0] != "dra"]


def skip_device_plugin_step(item: pytest.Item, state: RunState) -> None:
    """On the DRA path a device-plugin step is skipped, saying which path runs and why."""
    step, _ = step_of(item)
    if step is None or step in DRA_STEPS or state.allocation is None:
        return
    path, why = state.allocation
    if path == "dra":
        pytest.skip(f"a device-plugin step: GPUs are handed out by the DRA driver ({why})")


def leaves_dra_step(item: pytest.Item, nextitem: pytest.Item, state: RunState) -> bool:
    """On the DRA path, whether ``item`` is the dra step's last check: its module's fixtures
    (the DRA driver it installed) are torn down next, so the node matrix reads the cluster now."""
    if state.allocation is None or state.allocation[0] != "dra":
        return False
    return step_of(item)[0] == "dra" and step_of(nextitem)[0] != "dra"
