"""Runner RBAC generation (gpuconform/rbac.py): the shipped manifests are in sync, and the
rules grant exactly the required permissions."""

from __future__ import annotations

from pathlib import Path

from gpuconform.permissions import describe, required_permissions
from gpuconform.rbac import render, rules

RUNNER = Path(__file__).resolve().parents[2] / "manifests" / "runner"


def test_generated_runner_rbac_is_in_sync_with_permissions():
    for mode in ("install", "existing"):
        assert (RUNNER / f"rbac-{mode}.yaml").read_text() == render(mode), (
            f"manifests/runner/rbac-{mode}.yaml is stale: run `gpuconform rbac {mode}`"
        )
    assert (RUNNER / "rbac-install-gfd.yaml").read_text() == render("install", ("gfd",)), (
        "manifests/runner/rbac-install-gfd.yaml is stale: run `gpuconform rbac install --gfd`"
    )


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
