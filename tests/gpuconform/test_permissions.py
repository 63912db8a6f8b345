"""The gate's permission check: listed rules first, an access review for whatever they miss."""

from __future__ import annotations

from types import SimpleNamespace

from gpuconform.permissions import (
    UNBOUND_NAMESPACE,
    describe,
    missing_permissions,
    required_permissions,
    rule_grants,
)


def grant(verbs, groups, resources, names=None) -> SimpleNamespace:
    return SimpleNamespace(
        verbs=verbs, api_groups=groups, resources=resources, resource_names=names
    )


def test_a_rule_grants_as_rbac_matches():
    assert rule_grants(grant(["get", "list"], [""], ["pods"]), "list", "", "pods")
    assert not rule_grants(grant(["get"], [""], ["pods"]), "list", "", "pods")
    assert not rule_grants(grant(["list"], ["apps"], ["pods"]), "list", "", "pods")
    assert rule_grants(grant(["*"], ["*"], ["*"]), "delete", "rbac.authorization.k8s.io", "roles")
    # Subresources: named, or every resource's.
    assert rule_grants(grant(["get"], [""], ["pods/log"]), "get", "", "pods/log")
    assert rule_grants(grant(["get"], [""], ["*/log"]), "get", "", "pods/log")
    assert not rule_grants(grant(["get"], [""], ["pods"]), "get", "", "pods/log")
    # By name only: not a grant on every object.
    assert not rule_grants(grant(["get"], [""], ["secrets"], ["one"]), "get", "", "secrets")


class FakeKube:
    """Rules per namespace as an RBAC authorizer lists them; access reviews counted."""

    def __init__(self, rules: dict[str, list], complete: bool = True, allowed=()):
        self.rules, self.complete, self.allowed = rules, complete, set(allowed)
        self.reviews: list[tuple[str, str]] = []
        self.listed: list[str] = []

    def rules_in(self, namespace):
        self.listed.append(namespace)
        return self.rules.get(namespace, []), self.complete

    def can_i(self, verb, resource, group="", namespace="", subresource=""):
        full = f"{resource}/{subresource}" if subresource else resource
        self.reviews.append((verb, full))
        return (verb, full) in self.allowed


PROFILE = SimpleNamespace(mode="install", namespace="nvdp", permission_features=lambda: ())


def test_an_admin_is_checked_with_two_rule_reviews_and_no_access_review():
    everything = [grant(["*"], ["*"], ["*"])]
    kube = FakeKube({"nvdp": everything, UNBOUND_NAMESPACE: everything})
    assert missing_permissions(kube, PROFILE) == []
    assert kube.reviews == []
    assert sorted(kube.listed) == sorted(["nvdp", UNBOUND_NAMESPACE])


def test_a_namespaced_grant_does_not_count_for_a_cluster_scoped_permission():
    # Only the release namespace's rules: every cluster-scoped permission is asked, and missing.
    kube = FakeKube({"nvdp": [grant(["*"], ["*"], ["*"])]})
    missing = missing_permissions(kube, PROFILE)
    assert missing and all("(namespace" not in m for m in missing)
    assert len(kube.reviews) == len(missing)


def test_an_incomplete_list_falls_back_to_access_reviews_which_decide():
    kube = FakeKube({}, complete=False, allowed={("list", "nodes")})
    missing = missing_permissions(kube, PROFILE)
    assert "list nodes" not in missing
    assert kube.reviews and ("list", "nodes") in kube.reviews
    assert len(missing) == len(kube.reviews) - 1


def test_a_rule_listed_by_an_incomplete_review_is_still_a_grant():
    # Rules are additive: what an incomplete list shows is granted; only the rest is asked.
    kube = FakeKube({"nvdp": [grant(["*"], ["*"], ["*"])]}, complete=False)
    missing = missing_permissions(kube, PROFILE)
    assert missing and all("(namespace" not in m for m in missing)
    assert len(kube.reviews) == len(missing)


def test_gfd_adds_what_the_nfd_subchart_needs_in_install_mode_only():
    plain = {describe(r) for r in required_permissions("install")}
    gfd = {describe(r) for r in required_permissions("install", features=("gfd",))}
    assert {"create apiextensions.k8s.io/customresourcedefinitions", "patch nodes"} <= gfd - plain
    assert "create apps/deployments" in gfd - plain
    assert required_permissions("existing", features=("gfd",)) == required_permissions("existing")


def test_a_static_manifests_objects_need_create_get_delete_where_they_go():
    from gpuconform.permissions import object_rules

    rules = object_rules(
        [("daemonsets", "apps", "kube-system"), ("clusterroles", "rbac.authorization.k8s.io", None)]
    )
    assert {(r["verb"], r["resource"], r.get("namespace"), r["scope"]) for r in rules} == {
        (verb, "daemonsets", "kube-system", "release") for verb in ("create", "get", "delete")
    } | {(verb, "clusterroles", None, "cluster") for verb in ("create", "get", "delete")}
