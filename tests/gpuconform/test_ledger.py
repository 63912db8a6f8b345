"""The ledger's record of an applied object, as teardown and --keep name it."""

from __future__ import annotations

from gpuconform.ledger import AppliedObject, Ledger


def test_an_applied_object_names_its_namespace_only_when_it_has_one():
    assert AppliedObject("v1", "ConfigMap", "ns", "cfg").describe() == "ConfigMap ns/cfg"
    assert AppliedObject("rbac.authorization.k8s.io/v1", "ClusterRole", None, "r").describe() == (
        "ClusterRole r"
    )


def test_each_run_starts_with_an_empty_ledger():
    first, second = Ledger(), Ledger()
    first.applied.append(AppliedObject("v1", "Secret", "ns", "s"))
    first.namespaces.append("ns")
    assert (second.applied, second.namespaces, second.chart_kinds) == ([], [], set())
