"""The permissions a run needs (permissions.yaml), checked with SelfSubjectAccessReviews."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gpuconform.kube import Kube
from gpuconform.profile import Profile

PERMISSIONS_FILE = Path(__file__).with_name("permissions.yaml")
SCOPES = ("cluster", "release")


@cache
def _table() -> dict[str, dict[str, list[dict[str, str]]]]:
    return yaml.safe_load(PERMISSIONS_FILE.read_text())


FEATURES = ("gfd", "pull-secrets")
# A namespace that does not exist: no RoleBinding can live there, so the rules listed for it
# are the cluster-wide grants alone (what a cluster-scoped permission needs).
UNBOUND_NAMESPACE = f"gpuconform-unbound-{secrets.token_hex(4)}"


def required_permissions(
    mode: str, scope: str | None = None, features: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Rules for a mode and its features (`gfd`: install mode only); each carries `scope`:
    cluster-wide or the plugin's namespace."""
    table = _table()
    rules = []
    extra = [f for f in features if mode == "install" or f != "gfd"]
    for each in (scope,) if scope else SCOPES:
        lists = [table[each]["common"], table[each].get(mode), *(table[each].get(f) for f in extra)]
        for rule in (r for rules_list in lists for r in rules_list or []):
            rules.append(rule | {"scope": each})
    return rules


def describe(rule: dict[str, Any], namespace: str | None = None) -> str:
    group = f"{rule['group']}/" if rule.get("group") else ""
    where = f" (namespace {namespace})" if namespace and rule.get("scope") == "release" else ""
    return f"{rule['verb']} {group}{rule['resource']}{where}"


def rule_grants(granted: Any, verb: str, group: str, resource: str) -> bool:
    """Whether one RBAC resource rule (a SelfSubjectRulesReview's) grants `verb` on every
    object of `group`/`resource` (a subresource as `pods/log`), as RBAC's own matching does."""
    if granted.resource_names:  # only some objects by name: not the permission the run needs
        return False
    _, _, sub = resource.partition("/")
    resources = granted.resources or []
    return (
        bool({"*", verb} & set(granted.verbs or []))
        and bool({"*", group} & set(granted.api_groups or []))
        and ("*" in resources or resource in resources or (sub and f"*/{sub}" in resources))
    )


def _listed_as_allowed(kube: Kube, rules: list[dict[str, Any]], namespace_of: Any) -> list[bool]:
    """Which rules the identity's listed rules grant: one SelfSubjectRulesReview per namespace
    instead of one review per permission. Cluster-scoped rules are read in a namespace that
    cannot exist (no RoleBinding there), so only cluster-wide grants count for them.

    A listed rule is a grant even when the list is incomplete (a webhook authorizer that cannot
    enumerate): "Because authorization rules are additive, if a rule appears in a list it's
    safe to assume the subject has that permission, even if that list is incomplete."
    (https://kubernetes.io/docs/reference/kubernetes-api/definitions/subject-rules-review-status-v1-authorization/)
    What is not listed is asked by access review, whose answer decides."""
    reviews: dict[str, list[Any]] = {}
    found = []
    for rule in rules:
        namespace = namespace_of(rule) or UNBOUND_NAMESPACE
        if namespace not in reviews:
            reviews[namespace] = kube.rules_in(namespace)[0]
        ok = any(
            rule_grants(g, rule["verb"], rule.get("group", ""), rule["resource"])
            for g in reviews[namespace]
        )
        found.append(ok)
    return found


def missing_permissions(
    kube: Kube, profile: Profile, manifest_rules: list[dict[str, Any]] | None = None
) -> list[str]:
    """Each permission the current identity lacks, as 'verb group/resource [(namespace)]'.

    The reviews are independent, so they go out together rather than one round trip each.
    """

    def namespace_of(rule: dict[str, Any]) -> str:
        return rule.get("namespace") or (profile.namespace if rule["scope"] == "release" else "")

    def allowed(rule: dict[str, Any]) -> bool:
        resource, _, subresource = rule["resource"].partition("/")
        return kube.can_i(
            rule["verb"],
            resource,
            rule.get("group", ""),
            namespace_of(rule),
            subresource=subresource,
        )

    rules = required_permissions(profile.mode, features=profile.permission_features())
    rules += manifest_rules or []
    listed = _listed_as_allowed(kube, rules, namespace_of)
    # What the listed rules do not show (a webhook authorizer, a rule by name) is asked one
    # by one: a permission is reported missing only on an access review's word.
    unsure = [r for r, ok in zip(rules, listed, strict=True) if not ok]
    with ThreadPoolExecutor(max_workers=8) as pool:
        asked = dict(zip(map(id, unsure), pool.map(allowed, unsure), strict=True))
    verdicts = [ok or asked[id(r)] for r, ok in zip(rules, listed, strict=True)]
    return [
        describe(r, r.get("namespace") or profile.namespace)
        for r, ok in zip(rules, verdicts, strict=True)
        if not ok
    ]


def object_rules(objects: list[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
    """What applying and removing these objects needs: (resource, group, namespace) each gets
    create, get and delete there (a static manifest's objects, wherever they go)."""
    rules = []
    for resource, group, namespace in dict.fromkeys(objects):
        for verb in ("create", "get", "delete"):
            rule: dict[str, Any] = {"verb": verb, "resource": resource, "group": group}
            scope = (
                {"scope": "release", "namespace": namespace} if namespace else {"scope": "cluster"}
            )
            rules.append(rule | scope)
    return rules
