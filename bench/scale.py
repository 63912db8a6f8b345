"""The suite's own cost against doing the same by hand, at 4, 100 and 1,000 GPU nodes.

On one simulated cluster per scale (audit log on), alternately:
  suite   pytest --cluster=<that cluster>, the install -> readiness -> workload -> uninstall
          path (scheduling checks deselected), as a user runs it: start-up, gates, leak check
  manual  helm install --wait; kubectl rollout status; a GPU pod with kubectl wait; logs;
          helm uninstall --wait; kubectl delete namespace --wait
and counts the API requests each made from the API server's audit log, by user agent.
"""

from __future__ import annotations

import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gpuconform.sim import third_party, toolchain  # noqa: E402
from gpuconform.sim.cluster import SimCluster  # noqa: E402

CHART_VERSION = "0.20.0"  # NVIDIA's published chart, from the third-party directory
SUITE_AGENTS = ("gpuconform/", "Helm/")
MANUAL_AGENTS = ("kubectl/", "Helm/")
GPU_POD = """apiVersion: v1
kind: Pod
metadata: {name: gpu-test}
spec:
  restartPolicy: Never
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  containers:
  - name: cuda
    image: nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04
    command: [nvidia-smi, -L]
    resources: {limits: {nvidia.com/gpu: "1"}}
"""


@dataclass
class Sample:
    wall_s: float
    requests: collections.Counter = field(default_factory=collections.Counter)
    peak_rss_mib: float | None = None


def node_profile(gpu_nodes: int, folder: Path) -> Path:
    healthy = yaml.safe_load((REPO / "gpuconform/sim/node_profiles/healthy.yaml").read_text())
    healthy["node_groups"][0]["count"] = gpu_nodes
    path = folder / f"bench-{gpu_nodes}.yaml"
    path.write_text(yaml.safe_dump(healthy))
    return path


def count_requests(audit_log: Path, since: datetime, until: datetime, agents: tuple[str, ...]):
    """Requests by verb from the audit log, for requests received in [since, until]."""
    counts: collections.Counter = collections.Counter()
    with audit_log.open() as log:
        for line in log:
            event = json.loads(line)
            stamp = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            if since <= stamp <= until and event.get("userAgent", "").startswith(agents):
                counts[event["verb"]] += 1
    return counts


def chart_path() -> Path:
    chart = third_party.chart_archive(CHART_VERSION)
    if chart is None:
        raise SystemExit(f"no device-plugin chart {CHART_VERSION}: set {third_party.ENV_VAR}")
    return chart


def run_suite(cluster: SimCluster, gpu_nodes: int, folder: Path) -> Sample:
    profiles = folder / "clusters.yaml"
    profile = {
        "kubeconfig": str(cluster.paths.kubeconfig),
        "chart": {"path": str(chart_path())},
        "release": {"name": "nvdp", "namespace": "bench-suite"},
        "gpu_nodes": {
            "selector": "node.kubernetes.io/instance-type=sim.h200x8",
            "count": gpu_nodes,
            "gpus_per_node": 8,
        },
        "workload": {
            "image": "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04",
            "command": ["nvidia-smi", "-L"],
        },
        "timeouts": {"install": 900, "ready": 900, "workload": 300, "uninstall": 900},
    }
    profiles.write_text(yaml.safe_dump({"profiles": {"bench": profile}}))
    # pytest in a child whose own peak RSS we can read: RUSAGE_SELF inside that process.
    code = (
        "import resource, sys, pytest\n"
        "rc = pytest.main(sys.argv[1:])\n"
        "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    args = [
        "--cluster=bench",
        f"--profiles={profiles}",
        f"--reports-dir={folder / 'reports'}",
        "-p",
        "no:cacheprovider",
        "-q",
        "-k",
        "not over_request and not without_gpu_request",
    ]
    since = datetime.now().astimezone()
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    until = datetime.now().astimezone()
    if proc.returncode != 0:
        raise RuntimeError(f"suite run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    rss = next(
        int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_RSS_KIB")
    )
    return Sample(wall, count_requests(cluster.audit_log, since, until, SUITE_AGENTS), rss / 1024)


def run_manual(cluster: SimCluster, folder: Path) -> Sample:
    kubectl = [
        str(toolchain.require_binary("kubectl")),
        "--kubeconfig",
        str(cluster.paths.kubeconfig),
    ]
    helm = [str(toolchain.require_binary("helm")), "--kubeconfig", str(cluster.paths.kubeconfig)]
    pod = folder / "gpu-pod.yaml"
    pod.write_text(GPU_POD)
    ns = "bench-manual"
    steps = [
        [
            *helm,
            "install",
            "nvdp",
            str(chart_path()),
            "-n",
            ns,
            "--create-namespace",
            "--wait",
            "--timeout",
            "15m",
        ],
        [*kubectl, "-n", ns, "rollout", "status", "ds/nvdp-nvidia-device-plugin", "--timeout=15m"],
        [*kubectl, "-n", ns, "apply", "-f", str(pod)],
        [
            *kubectl,
            "-n",
            ns,
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            "pod/gpu-test",
            "--timeout=5m",
        ],
        [*kubectl, "-n", ns, "logs", "gpu-test"],
        [*kubectl, "-n", ns, "delete", "pod", "gpu-test", "--wait"],
        [*helm, "uninstall", "nvdp", "-n", ns, "--wait", "--timeout", "15m"],
        [*kubectl, "delete", "namespace", ns, "--wait"],
    ]
    since = datetime.now().astimezone()
    started = time.monotonic()
    for step in steps:
        subprocess.run(step, check=True, capture_output=True, text=True)
    wall = time.monotonic() - started
    until = datetime.now().astimezone()
    return Sample(wall, count_requests(cluster.audit_log, since, until, MANUAL_AGENTS))


def collection_time() -> float:
    """pytest's own report of collecting the suite (no cluster is started for --collect-only)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--cluster=sim",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    last = proc.stdout.strip().splitlines()[-1]  # "14 tests collected in 0.08s"
    return float(last.rsplit(" in ", 1)[1].rstrip("s"))


@dataclass
class ScaleResult:
    gpu_nodes: int
    start_s: float
    suite: list[Sample]
    manual: list[Sample]

    @property
    def ratio(self) -> float:
        return statistics.median(s.wall_s for s in self.suite) / statistics.median(
            s.wall_s for s in self.manual
        )


def bench_scale(gpu_nodes: int, runs: int) -> ScaleResult:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cluster = SimCluster(f"gpuconform-scale-{gpu_nodes}", log=lambda line: None)
        started = time.monotonic()
        cluster.up(str(node_profile(gpu_nodes, folder)), timeout_s=900, audit=True)
        start_s = time.monotonic() - started
        try:
            suite, manual = [], []
            for _ in range(runs):  # alternate, so drift hits both alike
                suite.append(run_suite(cluster, gpu_nodes, folder))
                manual.append(run_manual(cluster, folder))
        finally:
            cluster.down(quiet=True)
    return ScaleResult(gpu_nodes, start_s, suite, manual)


def requests_summary(samples: list[Sample]) -> str:
    total = statistics.median(sum(s.requests.values()) for s in samples)
    verbs = collections.Counter()
    for sample in samples:
        verbs.update(sample.requests)
    by_verb = ", ".join(
        f"{verb} {count / len(samples):.0f}" for verb, count in sorted(verbs.items())
    )
    return f"{total:.0f} ({by_verb})"


def table(results: list[ScaleResult], collect_s: float) -> str:
    rows = [
        "| GPU nodes | cluster start | suite wall (median) | manual wall (median) | overhead | "
        "suite API requests (median; by verb, mean) | manual API requests | suite peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.gpu_nodes} | {r.start_s:.1f} s | "
            f"{statistics.median(s.wall_s for s in r.suite):.1f} s | "
            f"{statistics.median(s.wall_s for s in r.manual):.1f} s | {r.ratio:.2f} | "
            f"{requests_summary(r.suite)} | {requests_summary(r.manual)} | "
            f"{max(s.peak_rss_mib or 0 for s in r.suite):.0f} MiB |"
        )
    runs = ", ".join(f"{len(r.suite)} at {r.gpu_nodes}" for r in results)
    return "\n".join(rows) + f"\n\nRuns per side: {runs}. pytest collection: {collect_s:.2f} s.\n"
