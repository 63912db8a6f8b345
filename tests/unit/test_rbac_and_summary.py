"""Runner RBAC generation and run-to-run comparison: pure logic."""

from __future__ import annotations

from pathlib import Path

from gpuconform.permissions import describe, required_permissions
from gpuconform.rbac import render, rules
from gpuconform.summary import compare

RUNNER = Path(__file__).resolve().parents[2] / "manifests" / "runner"


def test_generated_runner_rbac_is_in_sync_with_permissions():
    for mode in ("install", "existing"):
        assert (RUNNER / f"rbac-{mode}.yaml").read_text() == render(mode), (
            f"manifests/runner/rbac-{mode}.yaml is stale: run `gpuconform rbac {mode}`"
        )
    assert (RUNNER / "rbac-install-gfd.yaml").read_text() == render("install", ("gfd",)), (
        "manifests/runner/rbac-install-gfd.yaml is stale: run `gpuconform rbac install --gfd`"
    )


def test_gfd_adds_what_the_nfd_subchart_needs_in_install_mode_only():
    plain = {describe(r) for r in required_permissions("install")}
    gfd = {describe(r) for r in required_permissions("install", features=("gfd",))}
    assert {"create apiextensions.k8s.io/customresourcedefinitions", "patch nodes"} <= gfd - plain
    assert "create apps/deployments" in gfd - plain
    assert required_permissions("existing", features=("gfd",)) == required_permissions("existing")


def test_rules_grant_exactly_the_required_permissions():
    for scope in ("cluster", "release"):
        granted = {
            f"{verb} {group + '/' if group else ''}{resource}"
            for rule in rules("install", scope)
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        assert granted == {describe(r) for r in required_permissions("install", scope)}
    assert "list secrets" not in {describe(r) for r in required_permissions("install", "cluster")}
    existing = {describe(r) for r in required_permissions("existing")}
    assert "create apps/daemonsets" not in existing and "list nodes" in existing
    dropped = rules("install", "release", drop="delete apps/daemonsets")
    assert not any("delete" in r["verbs"] and "daemonsets" in r["resources"] for r in dropped)


def summary(**outcomes):
    return {
        "run_id": "r",
        "started": "t",
        "tests": [{"name": n, "outcome": o, "duration_s": d} for n, (o, d) in outcomes.items()],
    }


def test_compare_reports_new_failures_fixes_and_much_slower_steps():
    baseline = summary(a=("passed", 1.0), b=("failed", 1.0), c=("passed", 10.0), d=("passed", 1.0))
    current = summary(a=("failed", 1.0), b=("passed", 1.0), c=("passed", 30.0), d=("passed", 2.0))
    result = compare(current, baseline)
    assert result.new_failures == ["a"] and result.fixed == ["b"]
    assert result.slower == ["c 10.0s -> 30.0s"]  # d doubled but by 1 s only: no news
    assert result.lines()[0] == "compared with r (t):"


def test_compare_without_changes_says_so():
    same = summary(a=("passed", 1.0))
    assert compare(same, same).lines() == ["no change since r (t)"]


def test_a_static_manifests_objects_need_create_get_delete_where_they_go():
    from gpuconform.permissions import object_rules

    rules = object_rules(
        [("daemonsets", "apps", "kube-system"), ("clusterroles", "rbac.authorization.k8s.io", None)]
    )
    assert {(r["verb"], r["resource"], r.get("namespace"), r["scope"]) for r in rules} == {
        (verb, "daemonsets", "kube-system", "release") for verb in ("create", "get", "delete")
    } | {(verb, "clusterroles", None, "cluster") for verb in ("create", "get", "delete")}
