"""The fleet under test: which GPU node is in which pool, and what each node must advertise.

One place for both. The session gate finds each pool's nodes (`find_fleet`: a node that two
pools' selectors match stops the run before anything is created); the checks, the node
matrix and the verdict read a node's pool and its expectation from the Fleet.

A node's expectation is the pool's `gpus_per_node` where the profile states it. Where it does
not, it comes from the node itself, in this order: the `nvidia.com/gpu.count` label that
NFD/GFD put there, else the node probe's `nvidia-smi -L` (only when probes are allowed).
Never from what the plugin advertises: that is what is under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpuconform.diagnose.collect import probed_gpu_count
from gpuconform.pools import GpuPool
from gpuconform.profile import Profile
from gpuconform.wait import api_retry

if TYPE_CHECKING:
    from gpuconform.run import RunContext

COUNT_LABEL = "nvidia.com/gpu.count"  # GPU Feature Discovery's label
SOURCE_PROFILE = "profile"
SOURCE_LABEL = f"label {COUNT_LABEL}"
SOURCE_PROBE = "node probe (nvidia-smi -L)"
SOURCE_UNKNOWN = "unknown"
SOURCE_MIG = "profile (mig.resources)"


class FleetError(ValueError):
    """The profile's pools do not fit the cluster (a node in two pools); one line."""


@dataclass(frozen=True)
class Expectation:
    """What one GPU node must advertise, and where the number comes from."""

    pool: str
    resource: str  # what a GPU test pod of the pool asks for
    gpus: int | None  # the node's physical GPUs, where known
    source: str  # SOURCE_*: the profile, the node's label, its probe, or unknown
    resources: dict[str, int] | None  # resource -> count; None: any positive count passes

    def describe(self) -> str:
        """`nvidia.com/gpu=8 (label nvidia.com/gpu.count)`, for messages and the report."""
        if not self.resources:
            return f"{self.resource}>0 ({self.source})"
        counts = ", ".join(f"{r}={c}" for r, c in self.resources.items())
        return f"{counts} ({self.source})"


@dataclass
class PoolNodes:
    """A pool and the nodes its selector found (within --nodes), sorted by name."""

    pool: GpuPool
    nodes: list[Any]
    named: bool = False  # one of several pools: messages and pod names carry the pool's name

    @property
    def name(self) -> str:
        return self.pool.name

    @property
    def where(self) -> str:
        """` in pool 'inference'` for messages; empty when the profile has a single pool."""
        return f" in pool {self.name!r}" if self.named else ""

    def pod_name(self, base: str) -> str:
        """A test pod's name for this pool (`gpu-workload-inference`; `gpu-workload` alone)."""
        return f"{base}-{self.name}" if self.named else base

    @property
    def names(self) -> list[str]:
        return [n.metadata.name for n in self.nodes]

    @property
    def expected_count(self) -> int:
        """How many nodes the plugin must serve here: the profile's count, else those found."""
        return self.pool.count if self.pool.count is not None else len(self.nodes)


@dataclass
class Fleet:
    pools: list[PoolNodes]
    # node -> its expectation, once resolved (the advertise step); read by everything after.
    expectations: dict[str, Expectation] = field(default_factory=dict)

    def pool(self, name: str) -> PoolNodes:
        return next(p for p in self.pools if p.name == name)

    def pool_of(self, node: str) -> str | None:
        return next((p.name for p in self.pools if node in p.names), None)

    @property
    def nodes(self) -> list[Any]:
        return sorted((n for p in self.pools for n in p.nodes), key=lambda n: n.metadata.name)

    @property
    def names(self) -> list[str]:
        return [n.metadata.name for n in self.nodes]

    @property
    def expected_count(self) -> int:
        return sum(p.expected_count for p in self.pools)

    def describe(self) -> str:
        """`training: 2 nodes, inference: 1 node`, for the report's facts."""
        return ", ".join(
            f"{p.name}: {len(p.nodes)} node{'s' if len(p.nodes) != 1 else ''}" for p in self.pools
        )

    def expectations_of(self, current: list[Any]) -> dict[str, Expectation]:
        """Every pool node's expectation, in pool order, judged on the `current` node objects
        where they are given (the node matrix's snapshot)."""
        by_name = {n.metadata.name: n for n in current}
        return {
            n.metadata.name: self.expectation(by_name.get(n.metadata.name, n))
            for p in self.pools
            for n in p.nodes
        }

    def expectation(self, node: Any) -> Expectation:
        """The node's expectation: resolved earlier in the run, else from the profile and
        the node's label (no probe here)."""
        name = node.metadata.name
        if name in self.expectations:
            return self.expectations[name]
        pools = [p.pool for p in self.pools if name in p.names] or [self.pools[0].pool]
        return expect(pools[0], node, None)


def selector_of(profile: Profile, pool: GpuPool) -> str | None:
    """The pool's label selector, narrowed by --nodes (terms of a selector are ANDed)."""
    terms = [t for t in (pool.selector, profile.canary_selector) if t]
    return ",".join(terms) or None


def find_fleet(kube: Any, profile: Profile) -> Fleet:
    """Each pool's nodes (one list call per pool). A node matched by two pools is a profile
    error (FleetError). Under --nodes, pools the canary selector leaves empty are out of the
    run; otherwise an empty pool stays, and preflight says so."""
    found: list[PoolNodes] = []
    owner: dict[str, str] = {}
    for pool in profile.pools:
        nodes = api_retry(kube.core.list_node)(label_selector=selector_of(profile, pool)).items
        for node in nodes:
            name = node.metadata.name
            if name in owner:
                raise FleetError(
                    f"profile {profile.name!r}: node {name} is in pool {owner[name]!r} and in "
                    f"pool {pool.name!r}; pools must not overlap (make their selectors exclusive)"
                )
            owner[name] = pool.name
        nodes = sorted(nodes, key=lambda n: n.metadata.name)
        found.append(PoolNodes(pool, nodes, named=len(profile.pools) > 1))
    if profile.canary_selector and len(found) > 1:
        found = [p for p in found if p.nodes] or found[:1]
    return Fleet(found)


def label_count(node: Any) -> int | None:
    value = (node.metadata.labels or {}).get(COUNT_LABEL, "")
    return int(value) if value.isdigit() else None


def expect(pool: GpuPool, node: Any, probed: int | None) -> Expectation:
    """A node's expectation from its pool, its label and (if given) its probe's GPU count."""
    if not pool.counts_gpus:
        return Expectation(
            pool.name, pool.gpu_resource, None, SOURCE_MIG, pool.expected_resources()
        )
    gpus, source = pool.gpus_per_node, SOURCE_PROFILE
    if gpus is None:
        gpus, source = label_count(node), SOURCE_LABEL
    if gpus is None and probed is not None:
        gpus, source = probed, SOURCE_PROBE
    if gpus is None:
        source = SOURCE_UNKNOWN
    return Expectation(pool.name, pool.gpu_resource, gpus, source, pool.expected_resources(gpus))


def resolve_expectations(ctx: RunContext, pool: PoolNodes) -> dict[str, Expectation]:
    """Each node of the pool's expectation, read from current node objects (GFD may have
    labelled them since the gate), probing a node that has no count label when probes are
    allowed. Kept in ctx.fleet for the later checks and the node matrix."""
    fleet = ctx.fleet
    current = {
        n.metadata.name: n
        for n in api_retry(ctx.kube.core.list_node)(
            label_selector=selector_of(ctx.profile, pool.pool)
        ).items
    }
    resolved = {}
    for node in pool.nodes:
        node = current.get(node.metadata.name, node)
        probed = None
        needs_probe = pool.pool.counts_gpus and pool.pool.gpus_per_node is None
        if needs_probe and label_count(node) is None and ctx.profile.node_probe:
            ctx.progress(f"expected GPUs: probing node {node.metadata.name} (no {COUNT_LABEL})")
            probed = probed_gpu_count(ctx, node.metadata.name)
        resolved[node.metadata.name] = expect(pool.pool, node, probed)
    if fleet is not None:
        fleet.expectations.update(resolved)
    return resolved
