"""GPU node pools of a profile: `gpu_nodes` as one mapping (one pool) or a list of pools.

Each pool has a name, a label selector, a node count, GPUs per node and its own `sharing.*`
and `mig.*` (the profile's top-level `sharing`/`mig` are every pool's defaults). Which node
belongs to which pool, and what each node must advertise, is gpuconform/fleet.py's concern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gpuconform.conditions import GPU_RESOURCE

MIG_STRATEGIES = ("none", "single", "mixed")
SINGLE_POOL = "gpu-nodes"  # the name of the one pool of the mapping form
# A pool's name goes into test pod names and test ids: a DNS label, short enough for both.
POOL_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


class PoolError(ValueError):
    """A pool is unusable; the message names the pool and the field (no profile name)."""


@dataclass(frozen=True)
class GpuPool:
    """One pool of GPU nodes and what each of its nodes must offer.

    `gpus_per_node` None: each node's own GPU count is the expectation (fleet.py reads the
    node's `nvidia.com/gpu.count` label, else its node probe), never what the plugin
    advertises, which is what is under test.
    """

    name: str
    selector: str
    count: int | None = None
    gpus_per_node: int | None = None
    sharing_replicas: int | None = None
    sharing_resource: str | None = None
    mig_strategy: str = "none"
    mig_resources: dict[str, int] = field(default_factory=dict)

    @property
    def gpu_resource(self) -> str:
        """The resource a GPU test pod asks for: the renamed shared resource, with MIG `mixed`
        the first expected MIG profile, else nvidia.com/gpu."""
        if self.mig_strategy == "mixed" and self.mig_resources:
            return next(iter(self.mig_resources))
        return self.sharing_resource or GPU_RESOURCE

    @property
    def counts_gpus(self) -> bool:
        """Does what a node advertises follow from its GPU count? Not with MIG, whose
        slices the profile states (mig.resources)."""
        return not (
            self.mig_strategy == "mixed" or (self.mig_strategy == "single" and self.mig_resources)
        )

    def expected_resources(self, gpus: int | None = None) -> dict[str, int] | None:
        """What each node of the pool must advertise, by resource name, given its physical
        GPU count (`gpus`, default the pool's gpus_per_node); None where nothing says (then
        any positive count passes)."""
        if self.mig_strategy == "mixed":
            return dict(self.mig_resources) or None
        if self.mig_strategy == "single" and self.mig_resources:
            # `single` advertises every MIG slice of the node as nvidia.com/gpu.
            return {GPU_RESOURCE: sum(self.mig_resources.values())}
        gpus = self.gpus_per_node if gpus is None else gpus
        if gpus is None:
            return None
        return {self.gpu_resource: gpus * (self.sharing_replicas or 1)}


def pool_fields(defaults: dict[str, Any]) -> dict[str, Any]:
    """The keys one pool of the list form may have (checked like every profile key)."""
    return {
        "name": None,
        "selector": None,
        "count": None,
        "gpus_per_node": None,
        "sharing": defaults["sharing"],
        "mig": defaults["mig"],
    }


def parse_pools(
    gpu_nodes: dict[str, Any] | list[Any], sharing: dict[str, Any], mig: dict[str, Any]
) -> tuple[GpuPool, ...]:
    """The pools of `gpu_nodes` (mapping: one pool; list: one per entry), with the profile's
    top-level `sharing` and `mig` as each pool's defaults."""
    if isinstance(gpu_nodes, dict):
        entries, where = [dict(gpu_nodes, name=gpu_nodes.get("name") or SINGLE_POOL)], "gpu_nodes"
    elif isinstance(gpu_nodes, list) and gpu_nodes:
        entries, where = gpu_nodes, "gpu_nodes[{}]"
    else:
        raise PoolError("gpu_nodes must be a mapping (one pool) or a non-empty list of pools")
    pools = [_pool(entry, where.format(index), sharing, mig) for index, entry in enumerate(entries)]
    names = [p.name for p in pools]
    if len(set(names)) != len(names):
        raise PoolError(f"gpu_nodes: pool names must differ, got {', '.join(names)}")
    selectors = [p.selector for p in pools]
    if len(set(selectors)) != len(selectors):
        raise PoolError(
            "gpu_nodes: two pools have the same selector; every node must belong to one pool"
        )
    return tuple(pools)


def _pool(
    entry: dict[str, Any], where: str, sharing: dict[str, Any], mig: dict[str, Any]
) -> GpuPool:
    list_form = where != "gpu_nodes"
    name = entry.get("name")
    if list_form and (not isinstance(name, str) or not POOL_NAME.fullmatch(name)):
        raise PoolError(
            f"{where}: every pool needs a `name` of lower-case letters, digits and '-' "
            f"(at most 40), got {name!r}"
        )
    # The mapping form keeps its messages: `gpu_nodes.count ...`, `sharing.replicas ...`.
    where, field_of = (f"gpu_nodes pool {name!r}: ", "") if list_form else ("", "gpu_nodes.")
    selector = entry.get("selector")
    if list_form and (not isinstance(selector, str) or not selector.strip()):
        # An empty selector matches every node, so it would overlap every other pool.
        raise PoolError(f"{where}needs a label `selector` (e.g. pool={name})")
    for key in ("count", "gpus_per_node"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise PoolError(f"{where}{field_of}{key} must be a whole number")
    sharing = {**sharing, **(entry.get("sharing") or {})}
    mig = {**mig, **(entry.get("mig") or {})}
    replicas = sharing.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 1):
        raise PoolError(f"{where}sharing.replicas must be a whole number >= 1")
    strategy = mig.get("strategy") or "none"
    if strategy not in MIG_STRATEGIES:
        raise PoolError(f"{where}mig.strategy must be one of {', '.join(MIG_STRATEGIES)}")
    mig_resources = mig.get("resources") or {}
    for resource, count in mig_resources.items():
        if not str(resource).startswith("nvidia.com/mig-") or not isinstance(count, int):
            raise PoolError(
                f"{where}mig.resources maps nvidia.com/mig-<profile> to a count, "
                f"got {resource}: {count!r}"
            )
    return GpuPool(
        name=str(name),
        selector=str(selector or ""),
        count=entry.get("count"),
        gpus_per_node=entry.get("gpus_per_node"),
        sharing_replicas=replicas,
        sharing_resource=sharing.get("resource"),
        mig_strategy=strategy,
        mig_resources={str(k): int(v) for k, v in mig_resources.items()},
    )
