"""The permissions a run needs (permissions.yaml), checked with SelfSubjectAccessReviews."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gpuconform.kube import Kube
from gpuconform.profile import Profile

PERMISSIONS_FILE = Path(__file__).with_name("permissions.yaml")


@cache
def _table() -> dict[str, list[dict[str, str]]]:
    return yaml.safe_load(PERMISSIONS_FILE.read_text())


def required_permissions(mode: str) -> list[dict[str, Any]]:
    table = _table()
    return list(table["common"]) + list(table.get(mode) or [])


def describe(rule: dict[str, Any]) -> str:
    group = f"{rule['group']}/" if rule.get("group") else ""
    return f"{rule['verb']} {group}{rule['resource']}"


def missing_permissions(kube: Kube, profile: Profile) -> list[str]:
    """Each permission the current identity lacks, as 'verb group/resource'."""
    missing = []
    for rule in required_permissions(profile.mode):
        resource, _, subresource = rule["resource"].partition("/")
        allowed = kube.can_i(rule["verb"], resource, rule.get("group", ""), subresource=subresource)
        if not allowed:
            missing.append(describe(rule))
    return missing
