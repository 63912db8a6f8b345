"""The permissions a run needs (permissions.yaml), checked with SelfSubjectAccessReviews."""

from __future__ import annotations

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


def missing_permissions(
    kube: Kube, profile: Profile, manifest_rules: list[dict[str, Any]] | None = None
) -> list[str]:
    """Each permission the current identity lacks, as 'verb group/resource [(namespace)]'.

    The reviews are independent, so they go out together rather than one round trip each.
    """

    def allowed(rule: dict[str, Any]) -> bool:
        resource, _, subresource = rule["resource"].partition("/")
        namespace = rule.get("namespace") or (
            profile.namespace if rule["scope"] == "release" else ""
        )
        return kube.can_i(
            rule["verb"], resource, rule.get("group", ""), namespace, subresource=subresource
        )

    rules = required_permissions(profile.mode, features=profile.permission_features())
    rules += manifest_rules or []
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(allowed, rules))
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
