"""One conformance run's handles, passed to every phase and step.

RunContext only holds things; each job on them has its own module: who the run is and its
namespaces (identity.py), what it created (ledger.py), what still carries its id
(leak_check.py) and deleting that (teardown.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuconform.facts import RunFacts
from gpuconform.helm import Helm
from gpuconform.identity import RunIdentity
from gpuconform.kube import Kube
from gpuconform.ledger import Ledger
from gpuconform.profile import Profile

if TYPE_CHECKING:
    from gpuconform.fleet import Fleet


@dataclass
class RunContext:
    profile: Profile
    kube: Kube
    helm: Helm | None
    identity: RunIdentity
    report_dir: Path
    progress: Callable[[str], None]
    server_version: str = ""
    ledger: Ledger = field(default_factory=Ledger)
    facts: RunFacts = field(default_factory=RunFacts)
    # Diagnostics evidence gathered once per run and reused by later failures (node probes).
    evidence_cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Test pods created to be refused (workload.create_gpu_pod's expect_failure), by name:
    # diagnostics ignore their events, which outlive the pods.
    expected_failure_pods: set[str] = field(default_factory=set)
    # The GPU node pools and their nodes, found by the session gate (gpuconform/fleet.py).
    fleet: Fleet | None = None
