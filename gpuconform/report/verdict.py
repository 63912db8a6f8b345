"""The verdict a platform team reads first: CONFORMANT or NOT CONFORMANT, and why.

When the run is not conformant it blames the first broken layer (the order of blame of
gpuconform/diagnose/signatures.yaml: node labels -> driver -> container runtime -> device
plugin -> scheduler -> workload) and gives that diagnosis with its fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gpuconform.diagnose.explain import Explanation, load_signatures
from gpuconform.diagnose.model import FAILED_CHECK
from gpuconform.facts import RunFacts

CONFORMANT, NOT_CONFORMANT = "CONFORMANT", "NOT CONFORMANT"


@dataclass(frozen=True)
class Diagnosis:
    """A failed check's explanation, as recorded in summary.json's `diagnoses`."""

    test: str
    diagnosis: str  # one line: layer, cause, where, fix (Explanation.one_line)
    step: str | None = None
    layer: str | None = None
    cause: str | None = None
    where: str | None = None
    node: str | None = None
    fix: str | None = None
    confidence: str | None = None  # exact (a known message) or layer (only its component)
    pool: str | None = None  # the GPU node pool the check ran for, when there are several

    @classmethod
    def from_explanation(
        cls, test: str, step: str | None, explanation: Explanation, pool: str | None = None
    ) -> Diagnosis:
        primary = explanation.primary
        if primary is None:
            return cls(test, explanation.one_line(), step, pool=pool)
        sig = primary.signature
        return cls(
            test,
            explanation.one_line(),
            step,
            layer=sig.layer,
            cause=primary.cause,
            where=primary.where,
            node=primary.node,
            fix=sig.remediation,
            confidence=primary.confidence,
            pool=pool,
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Verdict:
    conformant: bool
    context: str  # profile, cluster, chart, versions
    reason: str  # why not conformant, or what passed
    fix: str | None = None

    @property
    def word(self) -> str:
        return CONFORMANT if self.conformant else NOT_CONFORMANT

    def line(self) -> str:
        """The one line at the top of the report and at the end of the terminal output."""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.word} - {self.context}: {self.reason}{fix}"

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.word, **asdict(self)}


def context_line(profile: str, facts: RunFacts) -> str:
    """Profile, cluster, chart and versions, from the run's facts."""
    parts = [f"profile {profile}"]
    if facts.cluster:
        parts.append(f"cluster {facts.cluster}")
    if facts.server_version:
        parts.append(f"Kubernetes {facts.server_version}")
    # On the DRA path the device plugin is not installed: the DRA driver's chart is the one.
    chart = facts.dra_chart or facts.chart_installed or facts.chart
    if chart:
        parts.append(f"chart {chart}")
    if facts.upgraded:
        parts.append(f"upgraded {facts.upgraded}")
    if facts.gpuconform:
        parts.append(f"gpuconform {facts.gpuconform}")
    return ", ".join(parts)


def first_broken(diagnoses: list[Diagnosis]) -> Diagnosis | None:
    """The diagnosis lowest in the order of blame; unexplained failures come after any layer."""
    if not diagnoses:
        return None
    layers, _ = load_signatures()

    def rank(d: Diagnosis) -> int:
        return layers.index(d.layer) if d.layer in layers else len(layers)

    return min(diagnoses, key=rank)  # min is stable: the earliest failure wins a tie


def pools_sentence(tests: list[dict[str, Any]]) -> str:
    """` Pools: inference failed; training, shared passed.` for a run over several pools (the
    checks that ran per pool say which); empty for a single pool."""
    failed: dict[str, None] = {}
    passed: dict[str, None] = {}
    for test in tests:
        pool = test.get("pool")
        if pool and test["outcome"] == "failed":
            failed[pool] = None
        elif pool and test["outcome"] == "passed":
            passed[pool] = None
    if not failed and not passed:
        return ""
    ok = [p for p in passed if p not in failed]
    parts = [f"{', '.join(failed)} failed"] if failed else []
    parts += [f"{', '.join(ok)} passed"] if ok else []
    return f" Pools: {'; '.join(parts)}."


def decide(
    profile: str,
    facts: RunFacts,
    tests: list[dict[str, Any]],
    diagnoses: list[Diagnosis],
    leaks: list[str],
    exit_status: int,
) -> Verdict:
    """CONFORMANT only when checks ran, none failed, nothing leaked and the run completed."""
    context = context_line(profile, facts)
    failed = [t for t in tests if t["outcome"] == "failed"]
    passed = [t for t in tests if t["outcome"] == "passed"]
    skipped = len(tests) - len(failed) - len(passed)
    if failed:
        pools = pools_sentence(tests)
        blamed = first_broken(diagnoses)
        if blamed is not None and blamed.layer:
            # The failed check's own message names no place; its pool does.
            named = blamed.where and not (blamed.pool and blamed.where == FAILED_CHECK)
            where = f" on {blamed.where}" if named else ""
            where += f" in pool {blamed.pool}" if blamed.pool else ""
            guess = " (lower confidence)" if blamed.confidence == "layer" else ""
            return Verdict(
                False,
                context,
                f"first broken layer: {blamed.layer}{guess}{where} (step {blamed.step}, check "
                f"{blamed.test}): {blamed.cause}{pools}",
                blamed.fix,
            )
        first = failed[0]
        message = first.get("reason") or "see the evidence under the check"
        in_pool = f" in pool {first['pool']}" if first.get("pool") else ""
        return Verdict(
            False,
            context,
            f"step {first.get('step') or '?'} failed{in_pool}: {first['name']}: {message} "
            f"(no known failure signature matched).{pools}",
            "Read the evidence under the failing check in the report.",
        )
    if leaks:
        return Verdict(
            False,
            context,
            f"the run left objects on the cluster: {', '.join(leaks)}.",
            "Delete them (they carry the run-id label) and check why uninstall left them.",
        )
    if exit_status != 0 or not passed:
        why = "no check ran" if not tests else f"the run ended with exit status {exit_status}"
        return Verdict(False, context, f"{why}.", "Run the suite to completion.")
    note = f", {skipped} skipped" if skipped else ""
    return Verdict(True, context, f"all {len(passed)} checks passed{note}.{pools_sentence(tests)}")
