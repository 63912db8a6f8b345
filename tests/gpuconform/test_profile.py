"""Profile resolution and validation: pure logic over YAML files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gpuconform.profile import ProfileError, resolve_profile

REPO = Path(__file__).resolve().parents[2]


def write_profiles(tmp_path: Path, profiles: dict) -> Path:
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"profiles": profiles}))
    return path


def test_shipped_sim_profiles_resolve():
    sim = resolve_profile("sim", REPO / "clusters.yaml")
    faulty = resolve_profile("sim-faulty", REPO / "clusters.yaml")
    kwok = resolve_profile("sim-kwok", REPO / "clusters.yaml")
    assert sim.simulated_nodes == "real-healthy"
    assert faulty.simulated_nodes == "real-broken-driver"
    # The demo's real nodes refuse NVIDIA_VISIBLE_DEVICES from unprivileged containers, so its
    # chart hands GPUs out through CDI, and so do the fault profiles that extend it; profiles on
    # KWOK nodes keep the chart's defaults.
    assert [Path(v).name for v in sim.chart.values] == ["cdi-strict.yaml"]
    assert faulty.chart.values == sim.chart.values and faulty.chart.version == sim.chart.version
    assert faulty.pools[0].count == 2  # the profile's own count over the one it extends
    assert kwok.simulated_nodes == "healthy" and kwok.chart.values == []
    assert resolve_profile("sim-envvar-leak", REPO / "clusters.yaml").chart.values == []
    assert sim.chart.repo == "sim" and sim.chart.version == "0.20.0"
    (pool,) = sim.pools  # the mapping form: one pool, as before
    assert pool.count == 3 and pool.gpus_per_node == 8
    assert pool.selector == "node.kubernetes.io/instance-type=sim.h200x8"


def test_unknown_profile_lists_known_ones(tmp_path):
    path = write_profiles(
        tmp_path, {"alpha": {"chart": {"path": "x"}}, "beta": {"chart": {"path": "y"}}}
    )
    with pytest.raises(ProfileError, match=r"unknown cluster 'gamma'.*profiles: alpha, beta"):
        resolve_profile("gamma", path, {"kubeconfig": str(tmp_path / "none")})


def test_kubeconfig_context_becomes_a_profile(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"contexts": [{"name": "prod-gpu", "context": {}}]}))
    path = write_profiles(tmp_path, {"sim": {"chart": {"path": "x"}}})
    profile = resolve_profile(
        "prod-gpu", path, {"kubeconfig": str(kubeconfig), "chart.repo": "https://charts.example"}
    )
    assert profile.context == "prod-gpu" and profile.chart.repo == "https://charts.example"


def test_unknown_field_is_named(tmp_path):
    path = write_profiles(tmp_path, {"p": {"chart": {"path": "x", "verison": "1"}}})
    with pytest.raises(ProfileError, match=r"unknown field 'verison'"):
        resolve_profile("p", path)


def test_exactly_one_chart_source(tmp_path):
    path = write_profiles(tmp_path, {"p": {"chart": {"path": "x", "oci": "oci://r/c"}}})
    with pytest.raises(ProfileError, match="exactly one chart source"):
        resolve_profile("p", path)


def test_overrides_win_and_extends_merges(tmp_path):
    path = write_profiles(
        tmp_path,
        {
            "base": {"chart": {"path": "x", "version": "1.0"}, "timeouts": {"ready": 10}},
            "child": {"extends": "base", "release": {"namespace": "gpu"}},
        },
    )
    profile = resolve_profile("child", path, {"chart.version": "2.0", "mode": "existing"})
    assert profile.chart.version == "2.0" and profile.mode == "existing"
    assert profile.timeouts["ready"] == 10 and profile.namespace == "gpu"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"chart": {"path": "x"}, "mode": "upgrade"}, "mode must be one of"),
        ({"chart": {"path": "x"}, "timeouts": {"ready": -1}}, "timeouts.ready"),
        ({"chart": {"path": "x", "set": ["novalue"]}}, "not key=value"),
        ({"chart": {"path": "x"}, "gpu_nodes": {"count": "three"}}, "whole number"),
        ({"extends": "missing"}, "extends unknown profile"),
    ],
)
def test_invalid_profiles_say_why(tmp_path, entry, message):
    with pytest.raises(ProfileError, match=message):
        resolve_profile("p", write_profiles(tmp_path, {"p": entry}))


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "clusters.yaml"
    path.write_text("profiles: [unclosed")
    with pytest.raises(ProfileError, match="not valid YAML") as info:
        resolve_profile("p", path)
    assert "\n" not in str(info.value)


def test_chart_features_come_from_sets_and_values_files(tmp_path):
    from dataclasses import replace

    profile = resolve_profile("sim", REPO / "clusters.yaml")
    assert profile.chart_features() == ()
    with_set = replace(profile, chart=replace(profile.chart, set=["gfd.enabled=true"]))
    assert with_set.chart_features() == ("gfd",)
    values = tmp_path / "values.yaml"
    values.write_text("gfd:\n  enabled: true\n")
    with_values = replace(profile, chart=replace(profile.chart, values=[str(values)]))
    assert with_values.chart_features() == ("gfd",)


def write(tmp_path, profile: dict) -> Path:
    path = tmp_path / "clusters.yaml"
    base = yaml.safe_load((REPO / "clusters.yaml").read_text())["profiles"]["sim"]
    path.write_text(yaml.safe_dump({"profiles": {"p": base | profile}}))
    return path


def test_sharing_and_mig_decide_what_each_gpu_node_must_advertise(tmp_path):
    shared = resolve_profile("p", write(tmp_path, {"sharing": {"replicas": 4}})).pools[0]
    assert shared.expected_resources() == {"nvidia.com/gpu": 32}  # 8 GPUs x 4 replicas
    assert shared.expected_resources(4) == {"nvidia.com/gpu": 16}  # a node with 4 GPUs
    renamed = {"sharing": {"replicas": 2, "resource": "nvidia.com/gpu.shared"}}
    profile = resolve_profile("p", write(tmp_path, renamed))
    assert profile.pools[0].expected_resources() == {"nvidia.com/gpu.shared": 16}
    assert profile.gpu_resource == "nvidia.com/gpu.shared"
    mixed = {"mig": {"strategy": "mixed", "resources": {"nvidia.com/mig-1g.10gb": 56}}}
    assert resolve_profile("p", write(tmp_path, mixed)).pools[0].expected_resources() == {
        "nvidia.com/mig-1g.10gb": 56
    }
    single = {"mig": {"strategy": "single", "resources": {"nvidia.com/mig-1g.10gb": 56}}}
    assert resolve_profile("p", write(tmp_path, single)).pools[0].expected_resources() == {
        "nvidia.com/gpu": 56
    }


@pytest.mark.parametrize(
    "profile, message",
    [
        ({"sharing": {"replicas": 0}}, "sharing.replicas must be a whole number >= 1"),
        ({"mig": {"strategy": "auto"}}, "mig.strategy must be one of none, single, mixed"),
        ({"mig": {"resources": {"gpu": 7}}}, "mig.resources maps nvidia.com/mig-<profile>"),
        ({"workload": {"tolerations": "sku"}}, "workload.tolerations must be a list"),
        ({"workload": {"tolerations": [{"effect": "NoSchedule"}]}}, "needs a key or an operator"),
        ({"workload": {"resources": {"request": {}}}}, "'request' is not requests or limits"),
        ({"workload": {"pod_security": "strict"}}, "workload.pod_security must be one of"),
        ({"workload": {"runtime_clas": "nvidia"}}, "unknown field 'runtime_clas'"),
    ],
)
def test_bad_shapes_of_the_new_keys_are_one_line(tmp_path, profile, message):
    with pytest.raises(ProfileError, match=re.escape(message)):
        resolve_profile("p", write(tmp_path, profile))


def test_a_boolean_label_value_is_refused_with_how_to_quote_it(tmp_path):
    profile = {"workload": {"node_selector": {"nvidia.com/gpu.present": True}}}
    with pytest.raises(ProfileError, match=re.escape('nvidia.com/gpu.present: "true"')):
        resolve_profile("p", write(tmp_path, profile))


def test_gfd_is_detected_from_nfd_upgrade_sets_and_any_case(tmp_path):
    from dataclasses import replace

    profile = resolve_profile("p", write(tmp_path, {}))
    assert replace(profile, upgrade_set=["gfd.enabled=True"]).chart_features() == ("gfd",)
    chart = replace(profile.chart, set=["nfd.enabled=true"])
    assert replace(profile, chart=chart).chart_features() == ("gfd",)


def test_mig_mixed_test_pods_ask_for_a_mig_resource(tmp_path):
    mixed = {"mig": {"strategy": "mixed", "resources": {"nvidia.com/mig-1g.18gb": 7}}}
    assert resolve_profile("p", write(tmp_path, mixed)).gpu_resource == "nvidia.com/mig-1g.18gb"


@pytest.mark.parametrize(
    "profile, message",
    [
        ({"kind": "yes"}, "profile 'p': kind must be a boolean (true or false), got 'yes'"),
        ({"timeouts": {"ready": "soon"}}, "profile 'p': timeouts.ready must be a number, got"),
        ({"release": {"name": 7}}, "profile 'p': release.name must be a string, got 7"),
        ({"workload": {"list_gpus": 1}}, "workload.list_gpus must be a boolean"),
        ({"diagnostics": {"budget_s": True}}, "diagnostics.budget_s must be a number, got True"),
        ({"chart": {"path": "x", "tagg": 1}}, "profile 'p': chart: unknown field 'tagg'"),
        ({"upgrade_set": "image.tag=v2"}, "profile 'p': upgrade_set must be a list"),
    ],
)
def test_a_key_of_the_wrong_kind_is_named_with_its_profile(tmp_path, profile, message):
    with pytest.raises(ProfileError, match=re.escape(message)) as info:
        resolve_profile("p", write(tmp_path, profile))
    assert "\n" not in str(info.value)


def test_every_default_comes_from_the_defaults_file(tmp_path):
    # A key set to null takes the defaults file's value: no second default in the code.
    defaults = yaml.safe_load((REPO / "gpuconform" / "profile_defaults.yaml").read_text())
    nulls = {
        "chart": {"path": "x", "name": None},
        "diagnostics": {"probe_image": None, "budget_s": None},
        "workload": {"pod_security": None, "list_gpus": None},
        "dra": {"release": {"name": None}},
    }
    profile = resolve_profile("p", write_profiles(tmp_path, {"p": nulls}))
    assert profile.chart.name == defaults["chart"]["name"]
    assert profile.probe_image == defaults["diagnostics"]["probe_image"]
    assert profile.diagnostics_budget_s == defaults["diagnostics"]["budget_s"]
    assert profile.workload_pod.pod_security == defaults["workload"]["pod_security"]
    assert profile.workload_pod.list_gpus is defaults["workload"]["list_gpus"]
    assert profile.dra.release_name == defaults["dra"]["release"]["name"]


def test_a_command_line_override_of_the_wrong_kind_is_refused(tmp_path):
    path = write_profiles(tmp_path, {"p": {"chart": {"path": "x"}}})
    with pytest.raises(ProfileError, match=re.escape("profile 'p': mode must be a string")):
        resolve_profile("p", path, {"mode": 3})
