"""GPU node pools: the list form of `gpu_nodes`, its errors, and each node's expectation."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from gpuconform.fleet import (
    SOURCE_LABEL,
    SOURCE_MIG,
    SOURCE_PROBE,
    SOURCE_PROFILE,
    SOURCE_UNKNOWN,
    FleetError,
    expect,
    find_fleet,
    selector_of,
)
from gpuconform.pools import SINGLE_POOL
from gpuconform.profile import ProfileError, resolve_profile

REPO = Path(__file__).resolve().parents[2]
POOLS = [
    {"name": "training", "selector": "pool=training", "count": 2, "gpus_per_node": 8},
    {"name": "inference", "selector": "pool=inference"},
    {
        "name": "shared",
        "selector": "pool=shared",
        "gpus_per_node": 4,
        "sharing": {"replicas": 4},
    },
]


def profile_with(tmp_path: Path, **entry):
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {"chart": {"path": "x"}} | entry}}))
    return resolve_profile("p", path)


def test_the_mapping_form_is_one_pool_as_before(tmp_path):
    profile = profile_with(tmp_path, gpu_nodes={"selector": "a=b", "count": 2, "gpus_per_node": 8})
    (pool,) = profile.pools
    assert (pool.name, pool.selector, pool.count, pool.gpus_per_node) == (SINGLE_POOL, "a=b", 2, 8)
    assert pool.expected_resources() == {"nvidia.com/gpu": 8}
    # The defaults: the GPU Operator's label, any number of nodes, the node's own GPU count.
    (default,) = profile_with(tmp_path).pools
    assert default.selector == "nvidia.com/gpu.present=true"
    assert default.count is None and default.gpus_per_node is None
    assert default.expected_resources() is None


def test_the_list_form_gives_each_pool_its_own_counts_and_sharing(tmp_path):
    profile = profile_with(tmp_path, gpu_nodes=POOLS)
    training, inference, shared = profile.pools
    assert [p.name for p in profile.pools] == ["training", "inference", "shared"]
    assert training.expected_resources() == {"nvidia.com/gpu": 8}
    assert inference.gpus_per_node is None and inference.expected_resources(4) == {
        "nvidia.com/gpu": 4
    }
    assert shared.expected_resources() == {"nvidia.com/gpu": 16}  # 4 GPUs x 4 replicas
    assert training.sharing_replicas is None


def test_top_level_sharing_and_mig_are_every_pools_default(tmp_path):
    pools = [
        {"name": "a", "selector": "pool=a", "gpus_per_node": 2},
        {"name": "b", "selector": "pool=b", "gpus_per_node": 2, "sharing": {"replicas": 1}},
        {
            "name": "c",
            "selector": "pool=c",
            "mig": {"strategy": "mixed", "resources": {"nvidia.com/mig-1g.10gb": 14}},
        },
    ]
    a, b, c = profile_with(tmp_path, gpu_nodes=pools, sharing={"replicas": 3}).pools
    assert a.expected_resources() == {"nvidia.com/gpu": 6}
    assert b.expected_resources() == {"nvidia.com/gpu": 2}
    assert c.gpu_resource == "nvidia.com/mig-1g.10gb"
    assert c.expected_resources() == {"nvidia.com/mig-1g.10gb": 14}


def test_the_shipped_mixed_profile_resolves():
    profile = resolve_profile("sim-mixed", REPO / "clusters.yaml")
    assert [p.name for p in profile.pools] == ["training", "inference", "shared"]
    assert profile.simulated_nodes == "mixed-fleet"
    # Its values file is found next to clusters.yaml, wherever pytest runs from.
    (values,) = profile.chart.values
    assert Path(values) == REPO / "gpuconform" / "sim" / "values" / "mixed-fleet.yaml"


@pytest.mark.parametrize(
    "gpu_nodes, message",
    [
        ([{"selector": "pool=a"}], "every pool needs a `name`"),
        ([{"name": "Big_Pool", "selector": "pool=a"}], "got 'Big_Pool'"),
        ([{"name": "a"}], "gpu_nodes pool 'a': needs a label `selector`"),
        ([{"name": "a", "selector": "p=a", "count": -1}], "pool 'a': count must be a whole"),
        ([{"name": "a", "selector": "p=a", "gpu_per_node": 8}], "unknown field 'gpu_per_node'"),
        (
            [{"name": "a", "selector": "p=a", "sharing": {"replicas": 0}}],
            "gpu_nodes pool 'a': sharing.replicas must be a whole number >= 1",
        ),
        (
            [{"name": "a", "selector": "p=a"}, {"name": "a", "selector": "p=b"}],
            "pool names must differ",
        ),
        (
            [{"name": "a", "selector": "p=a"}, {"name": "b", "selector": "p=a"}],
            "two pools have the same selector",
        ),
        (["a"], "gpu_nodes[0]: expected a mapping"),
        ([], "a non-empty list of pools"),
    ],
)
def test_bad_pools_are_one_line(tmp_path, gpu_nodes, message):
    with pytest.raises(ProfileError, match=re.escape(message)) as err:
        profile_with(tmp_path, gpu_nodes=gpu_nodes)
    assert "\n" not in str(err.value) and str(err.value).startswith("profile 'p'")


def node(name: str, labels: dict[str, str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(metadata=SimpleNamespace(name=name, labels=labels or {}))


class FakeCore:
    """list_node by label selector over a few labelled nodes (equality terms only)."""

    def __init__(self, nodes: list[SimpleNamespace]) -> None:
        self.nodes = nodes

    def list_node(self, label_selector: str | None = None) -> SimpleNamespace:
        terms = [t.split("=", 1) for t in (label_selector or "").split(",") if t]
        found = [n for n in self.nodes if all(n.metadata.labels.get(k) == v for k, v in terms)]
        return SimpleNamespace(items=found)


def kube(*nodes: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(core=FakeCore(list(nodes)))


def test_a_node_in_two_pools_is_a_profile_error_naming_both(tmp_path):
    pools = [
        {"name": "training", "selector": "gpu=h100"},
        {"name": "canary", "selector": "driver=new"},
    ]
    profile = profile_with(tmp_path, gpu_nodes=pools)
    cluster = kube(node("n1", {"gpu": "h100"}), node("n2", {"gpu": "h100", "driver": "new"}))
    with pytest.raises(FleetError) as err:
        find_fleet(cluster, profile)
    assert str(err.value) == (
        "profile 'p': node n2 is in pool 'training' and in pool 'canary'; pools must not "
        "overlap (make their selectors exclusive)"
    )


def test_the_fleet_knows_each_nodes_pool_and_count(tmp_path):
    profile = profile_with(tmp_path, gpu_nodes=POOLS)
    cluster = kube(
        node("t2", {"pool": "training"}),
        node("t1", {"pool": "training"}),
        node("i1", {"pool": "inference"}),
    )
    fleet = find_fleet(cluster, profile)
    assert [p.names for p in fleet.pools] == [["t1", "t2"], ["i1"], []]
    assert fleet.pool_of("i1") == "inference" and fleet.pool_of("cpu") is None
    assert [p.expected_count for p in fleet.pools] == [2, 1, 0]
    assert fleet.pool("inference").where == " in pool 'inference'"
    assert fleet.pool("shared").pod_name("gpu-workload") == "gpu-workload-shared"
    assert fleet.describe() == "training: 2 nodes, inference: 1 node, shared: 0 nodes"


def test_nodes_narrows_each_pool_and_drops_the_pools_it_leaves_empty(tmp_path):
    profile = profile_with(tmp_path, gpu_nodes=POOLS).narrowed("zone=a")
    assert all(p.count is None for p in profile.pools)  # whatever the canary finds
    assert selector_of(profile, profile.pools[0]) == "pool=training,zone=a"
    cluster = kube(node("t1", {"pool": "training", "zone": "a"}), node("t2", {"pool": "training"}))
    fleet = find_fleet(cluster, profile)
    assert [(p.name, p.names) for p in fleet.pools] == [("training", ["t1"])]


def test_a_nodes_expectation_comes_from_the_profile_then_its_label_then_its_probe(tmp_path):
    training, inference, shared = profile_with(tmp_path, gpu_nodes=POOLS).pools
    labelled = node("i1", {"nvidia.com/gpu.count": "4"})
    # The profile's gpus_per_node wins over the node's own label.
    stated = expect(training, labelled, probed=2)
    assert (stated.gpus, stated.source, stated.resources) == (
        8,
        SOURCE_PROFILE,
        {"nvidia.com/gpu": 8},
    )
    from_label = expect(inference, labelled, probed=2)
    assert (from_label.gpus, from_label.source) == (4, SOURCE_LABEL)
    from_probe = expect(inference, node("i2"), probed=2)
    assert (from_probe.source, from_probe.resources) == (SOURCE_PROBE, {"nvidia.com/gpu": 2})
    unknown = expect(inference, node("i3", {"nvidia.com/gpu.count": "n/a"}), probed=None)
    assert (unknown.source, unknown.resources) == (SOURCE_UNKNOWN, None)
    assert unknown.describe() == "nvidia.com/gpu>0 (unknown)"
    assert from_label.describe() == "nvidia.com/gpu=4 (label nvidia.com/gpu.count)"
    assert expect(shared, labelled, None).resources == {"nvidia.com/gpu": 16}


def test_mig_slices_are_expected_from_the_profile_not_from_gpu_counts(tmp_path):
    mig = {"strategy": "single", "resources": {"nvidia.com/mig-1g.10gb": 7}}
    (pool,) = profile_with(tmp_path, gpu_nodes={"selector": "a=b"}, mig=mig).pools
    got = expect(pool, node("m1", {"nvidia.com/gpu.count": "1"}), probed=None)
    assert (got.source, got.resources) == (SOURCE_MIG, {"nvidia.com/gpu": 7})
