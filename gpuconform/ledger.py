"""The ownership ledger: what this run created, recorded as it creates it.

Teardown deletes by the run-id label; the ledger adds what a label selector cannot reach on
its own: objects a static manifest applied (any kind, any namespace) and the kinds the chart
renders (an interrupted `helm install` leaves those with no release to uninstall).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AppliedObject:
    """An object the run created itself (a static manifest's), wherever it lives."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def describe(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass
class Ledger:
    """What this run created. An applied object is recorded before its create is sent
    (release.py), so an interrupted create is still cleaned up."""

    # Namespaces the run created (identity.ensure_namespace, the DRA driver's namespace).
    namespaces: list[str] = field(default_factory=list)
    # Objects applied by the run (static manifests): any kind, any namespace. Teardown and the
    # leak check cover each of them, whatever the label-based lists of teardown.py know of.
    applied: list[AppliedObject] = field(default_factory=list)
    # (apiVersion, kind) of everything the chart renders (the session gate's helm template):
    # teardown and the leak check cover those kinds too, in the release namespace or
    # cluster-wide, whether or not an interrupted install left helm a record of them.
    chart_kinds: set[tuple[str, str]] = field(default_factory=set)
