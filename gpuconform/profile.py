"""Cluster profiles: clusters.yaml entries, merged over defaults and overridden by flags.

Every problem is a ProfileError whose message is one line an operator can act on.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gpuconform.metrics import MetricsEndpoint, MetricsSettingError, parse_endpoint
from gpuconform.pod_settings import PodSettingError, WorkloadPod, parse_workload_pod
from gpuconform.pools import GpuPool, PoolError, parse_pools, pool_fields
from gpuconform.profile_schema import EXTRA_KEYS, SchemaError, check, deep_merge, fill_nulls
from gpuconform.profile_schema import defaults as profile_defaults

CHART_SOURCES = ("repo", "path", "oci", "manifest")
MODES = ("install", "existing")
ALLOCATIONS = ("device-plugin", "dra", "auto")


class ProfileError(ValueError):
    """The profile or an override is unusable; the message says what to do."""


@dataclass(frozen=True)
class ChartSource:
    repo: str | None
    name: str
    path: str | None
    oci: str | None
    manifest: str | None
    version: str | None
    values: list[str]
    set: list[str]

    @property
    def kind(self) -> str:
        return next(k for k in CHART_SOURCES if getattr(self, k))

    def describe(self) -> str:
        ref = {
            "repo": f"{self.repo} {self.name}",
            "path": self.path,
            "oci": self.oci,
            "manifest": self.manifest,
        }[self.kind]
        if self.kind in ("manifest", "path"):
            return str(ref)
        return f"{ref} {self.version or '(latest)'}"


@dataclass(frozen=True)
class DraSource:
    """NVIDIA's DRA driver chart, for `allocation: dra` (profile key `dra`; its defaults are
    profile_defaults.yaml's)."""

    repo: str | None
    name: str
    version: str | None
    values: list[str]
    set: list[str]
    release_name: str
    namespace: str


@dataclass(frozen=True)
class Profile:
    name: str
    kubeconfig: str | None
    context: str | None
    simulated_nodes: str | None
    kind: bool
    chart: ChartSource
    release_name: str
    namespace: str
    mode: str
    allow_existing: bool
    pools: tuple[GpuPool, ...]
    workload_image: str
    workload_command: list[str] | None
    workload_expect: str | None
    timeouts: dict[str, float]
    node_probe: bool
    probe_image: str
    diagnostics_budget_s: float  # every default is profile_defaults.yaml's, in one place
    keep: bool
    upgrade_from: str | None
    upgrade_set: list[str]  # --set for the upgrade target only
    workload_pod: WorkloadPod
    allocation: str
    dra: DraSource
    accelerator_metrics: MetricsEndpoint | None  # the exporter; None: step skipped
    canary_selector: str | None = None  # --nodes: validate on this subset of GPU nodes only

    @property
    def simulated(self) -> bool:
        return self.simulated_nodes is not None

    def permission_features(self) -> tuple[str, ...]:
        """The extra permission sets (permissions.yaml) this profile needs: `gfd` for the
        chart's GPU feature discovery, `pull-secrets` to copy the workload's pull secrets."""
        pull = ("pull-secrets",) if self.workload_pod.image_pull_secrets else ()
        return self.chart_features() + pull

    def chart_features(self) -> tuple[str, ...]:
        """Chart features that need more than the plugin itself: `gfd` when the chart's values
        (--set or a values file) enable GPU feature discovery and its nfd subchart."""
        switches = ("gfd.enabled=true", "nfd.enabled=true")
        sets = [*self.chart.set, *self.upgrade_set]
        enabled = any(s.replace(" ", "").lower() in switches for s in sets)
        for path in self.chart.values:
            try:
                values = yaml.safe_load(Path(path).read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue  # the session gate's helm render reports an unusable values file
            for key in ("gfd", "nfd"):
                part = values.get(key) if isinstance(values, dict) else None
                enabled = enabled or (isinstance(part, dict) and part.get("enabled") is True)
        return ("gfd",) if enabled else ()

    @property
    def gpu_resource(self) -> str:
        """The resource of fleet-wide test pods (scheduling, upgrade): the first pool's."""
        return self.pools[0].gpu_resource

    def narrowed(self, canary: str) -> Profile:
        """The profile for `--nodes`: each pool is whatever of it the canary selector finds."""
        pools = tuple(dataclasses.replace(p, count=None) for p in self.pools)
        return dataclasses.replace(self, pools=pools, canary_selector=canary)

    def canary_node_selector(self) -> dict[str, str]:
        """The equality terms of --nodes, to pin the plugin's DaemonSet to the canary pool."""
        terms: dict[str, str] = {}
        for term in (self.canary_selector or "").split(","):
            key, eq, value = term.partition("=")
            if eq and not key.endswith("!"):
                terms[key.strip()] = value.strip().lstrip("=")
        return terms


def load_profiles(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        raise ProfileError(f"profiles file {path} not found; create it or pass --profiles FILE")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ProfileError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, dict):
        raise ProfileError(f"{path}: expected a top-level `profiles:` mapping")
    return profiles


def kubeconfig_contexts(kubeconfig: str | None) -> list[str]:
    """Context names in the kubeconfig (first file of $KUBECONFIG), or [] if unreadable."""
    path = kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]
    try:
        data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    return [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]


def _resolve_entry(name: str, profiles: dict[str, Any], seen: tuple[str, ...] = ()) -> dict:
    if name in seen:
        raise ProfileError(f"profile {name!r} extends itself through {' -> '.join(seen)}")
    entry = profiles[name] or {}
    if not isinstance(entry, dict):
        raise ProfileError(f"profile {name!r}: expected a mapping")
    parent = entry.get("extends")
    if parent is None:
        return {k: v for k, v in entry.items() if k != "extends"}
    if parent not in profiles:
        raise ProfileError(f"profile {name!r} extends unknown profile {parent!r}")
    base = _resolve_entry(parent, profiles, (*seen, name))
    return deep_merge(base, {k: v for k, v in entry.items() if k != "extends"})


def resolve_profile(
    name: str, profiles_file: Path, overrides: dict[str, Any] | None = None
) -> Profile:
    """Build the Profile for `--cluster=name`: a clusters.yaml entry or a kubeconfig context."""
    defaults = profile_defaults()
    profiles = load_profiles(profiles_file)
    if name in profiles:
        entry = _resolve_entry(name, profiles)
    elif name in kubeconfig_contexts((overrides or {}).get("kubeconfig")):
        entry = {"context": name}
    else:
        contexts = kubeconfig_contexts((overrides or {}).get("kubeconfig"))
        hint = f"; kubeconfig contexts: {', '.join(contexts)}" if contexts else ""
        raise ProfileError(
            f"unknown cluster {name!r}: not a profile in {profiles_file.name} "
            f"(profiles: {', '.join(sorted(profiles))}) nor a kubeconfig context{hint}"
        )
    _check_entry(name, entry, defaults)
    merged = deep_merge(defaults, entry)
    # A profile's values files are found next to the profiles file (as chart.path is); the
    # command line's --values, set below, relative to the working directory.
    values = merged["chart"].get("values") or []
    merged["chart"]["values"] = [
        _resolve_path(str(v), profiles_file.parent)
        for v in ([values] if isinstance(values, str) else values)
    ]
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        target = merged
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    _check_entry(name, merged, defaults)  # what the command line set, too
    return _build(name, fill_nulls(merged, defaults), profiles_file.parent)


def _check_entry(name: str, entry: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Every key known and of its default's kind (profile_schema.py); one line naming both
    the key and the profile when not."""
    where = f"profile {name!r}"
    schema = defaults | EXTRA_KEYS | {"keep": False}  # keep: the command line's --keep
    pools = entry.get("gpu_nodes")
    try:
        if isinstance(pools, list):  # the list form: one entry per node pool
            for index, pool in enumerate(pools):
                if not isinstance(pool, dict):
                    raise SchemaError(f"gpu_nodes[{index}]: expected a mapping, got {pool!r}")
                check(pool, pool_fields(defaults), f"gpu_nodes[{index}].")
            entry = {k: v for k, v in entry.items() if k != "gpu_nodes"}
        check(entry, schema)
    except SchemaError as err:
        raise ProfileError(f"{where}: {err}") from None


def _resolve_path(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path))


def _as_list(value: Any) -> list[Any]:
    """A YAML value given as one item or a list of them."""
    return [value] if isinstance(value, str) else list(value or [])


def _positive(name: str, key: str, value: Any) -> float:
    if not isinstance(value, int | float) or value <= 0:
        raise ProfileError(f"profile {name!r}: {key} must be a positive number")
    return float(value)


def _check_chart_rules(name: str, data: dict[str, Any], sources: list[str]) -> None:
    """One chart source (but none needed for mode existing); --upgrade-from's conditions."""
    if len(sources) != 1 and not data.get("mode") == "existing":
        raise ProfileError(
            f"profile {name!r}: give exactly one chart source of {', '.join(CHART_SOURCES)} "
            f"(got {', '.join(sources) or 'none'})"
        )
    if data.get("upgrade_from") and (data["mode"] != "install" or data["chart"].get("manifest")):
        raise ProfileError(f"profile {name!r}: --upgrade-from needs mode install with a helm chart")
    if data.get("upgrade_from") and data["chart"].get("path"):
        raise ProfileError(
            f"profile {name!r}: --upgrade-from needs a versioned chart source (repo or oci); "
            "a local chart path has only the version on disk"
        )
    if data["mode"] not in MODES:
        raise ProfileError(f"profile {name!r}: mode must be one of {', '.join(MODES)}")


def _chart_source(name: str, data: dict[str, Any], base: Path) -> tuple[ChartSource, list[str]]:
    """The chart to install (exactly one source) and the upgrade target's --set entries."""
    chart = data["chart"]
    sources = [k for k in CHART_SOURCES if chart.get(k)]
    _check_chart_rules(name, data, sources)
    values, sets = _as_list(chart["values"]), _as_list(chart["set"])
    upgrade_sets = [str(s) for s in data["upgrade_set"]]
    if upgrade_sets and not data.get("upgrade_from"):
        raise ProfileError(f"profile {name!r}: --upgrade-set needs --upgrade-from")
    for item in [*sets, *upgrade_sets]:
        if "=" not in str(item):
            raise ProfileError(f"profile {name!r}: --set entry {item!r} is not key=value")
    source = ChartSource(
        repo=chart.get("repo"),
        name=chart["name"],
        path=_resolve_path(chart.get("path"), base),
        oci=chart.get("oci"),
        manifest=chart.get("manifest"),
        version=str(chart["version"]) if chart.get("version") is not None else None,
        values=[_resolve_path(v, Path.cwd()) or v for v in values],
        set=[str(s) for s in sets],
    )
    return source, upgrade_sets


def _build(name: str, data: dict[str, Any], base: Path) -> Profile:
    chart, upgrade_sets = _chart_source(name, data, base)
    try:
        pools = parse_pools(data["gpu_nodes"], data["sharing"], data["mig"])
    except PoolError as err:
        raise ProfileError(f"profile {name!r}: {err}") from None
    timeouts = data["timeouts"]
    for key, value in timeouts.items():
        _positive(name, f"timeouts.{key}", value)
    command = data["workload"].get("command")
    if isinstance(command, str):
        command = command.split()
    try:
        workload_pod = parse_workload_pod(data["workload"])
    except PodSettingError as err:
        raise ProfileError(f"profile {name!r}: {err}") from None
    budget = _positive(name, "diagnostics.budget_s", data["diagnostics"]["budget_s"])
    simulated = data.get("simulated") or {}
    allocation, dra = _allocation(name, data, base)
    try:
        metrics = parse_endpoint(name, data.get("accelerator_metrics"))
    except MetricsSettingError as err:
        raise ProfileError(str(err)) from None
    return Profile(
        name=name,
        kubeconfig=_resolve_path(data.get("kubeconfig"), base) if data.get("kubeconfig") else None,
        context=data.get("context"),
        simulated_nodes=simulated.get("nodes") if simulated else None,
        kind=data["kind"],
        chart=chart,
        release_name=data["release"]["name"],
        namespace=data["release"]["namespace"],
        mode=data["mode"],
        allow_existing=data["allow_existing"],
        pools=pools,
        workload_image=data["workload"]["image"],
        workload_command=command,
        workload_expect=data["workload"].get("expect"),
        timeouts={k: float(v) for k, v in timeouts.items()},
        node_probe=data["diagnostics"]["node_probe"],
        probe_image=data["diagnostics"]["probe_image"],
        keep=bool(data.get("keep")),
        upgrade_from=str(data["upgrade_from"]) if data.get("upgrade_from") else None,
        upgrade_set=upgrade_sets,
        workload_pod=workload_pod,
        diagnostics_budget_s=budget,
        allocation=allocation,
        dra=dra,
        accelerator_metrics=metrics,
    )


def _allocation(name: str, data: dict[str, Any], base: Path) -> tuple[str, DraSource]:
    """`allocation` and the DRA driver's chart (`dra`), checked."""
    allocation = data["allocation"]
    if allocation not in ALLOCATIONS:
        raise ProfileError(
            f"profile {name!r}: allocation must be one of {', '.join(ALLOCATIONS)}, "
            f"got {allocation!r}"
        )
    chart, release = data["dra"]["chart"], data["dra"]["release"]
    sets = [str(s) for s in chart["set"]]
    for item in sets:
        if "=" not in item:
            raise ProfileError(f"profile {name!r}: dra.chart.set entry {item!r} is not key=value")
    return allocation, DraSource(
        repo=chart.get("repo"),
        name=chart["name"],
        version=str(chart["version"]) if chart.get("version") is not None else None,
        values=[_resolve_path(str(v), base) or str(v) for v in chart["values"]],
        set=sets,
        release_name=release["name"],
        namespace=release["namespace"],
    )
