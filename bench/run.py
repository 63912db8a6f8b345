"""gpuconform benchmarks (`make bench`). Prints tables and rewrites BENCHMARKS.md.

  python bench/run.py                  toolchain check, cluster start, and the suite against
                                       hand-written commands at 4, 100 and 1,000 GPU nodes
  python bench/run.py --quick          4 GPU nodes, one run of each (under 3 minutes warm)
  python bench/run.py --cold-toolchain also the cold toolchain build (empty Go caches; ~20 min)

The simulated cluster is the target: see README's "The simulated cluster".
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from real_nodes import bench_real_nodes  # noqa: E402
from real_plugin import bench_real_plugin  # noqa: E402
from scale import bench_scale, collection_time, table  # noqa: E402

from gpuconform.sim import toolchain  # noqa: E402
from gpuconform.sim.cluster import SimCluster  # noqa: E402

RESULTS = REPO / "BENCHMARKS.md"


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def bench_toolchain_warm(reps: int) -> list[float]:
    """`gpuconform sim build` with the cache present: what `make test` pays on every run."""
    command = [sys.executable, "-m", "gpuconform.cli", "sim", "build"]
    return [
        timed(lambda: subprocess.run(command, check=True, capture_output=True, cwd=REPO))
        for _ in range(reps)
    ]


def bench_toolchain_cold() -> float:
    """Build everything into empty caches: Go's module and build caches and ours."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env |= {
            "GPUCONFORM_CACHE": f"{tmp}/cache",
            "GOMODCACHE": f"{tmp}/gomod",
            "GOCACHE": f"{tmp}/gobuild",
        }
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "gpuconform.sim.toolchain"], env=env, check=True, cwd=REPO
        )
        elapsed = time.monotonic() - started
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # Go's module cache is read-only
        return elapsed


def bench_cluster_start(reps: int, nodes: str) -> list[float]:
    times = []
    for n in range(reps):
        cluster = SimCluster(f"gpuconform-bench-{os.getpid()}-{n}", log=lambda line: None)
        try:
            times.append(timed(lambda c=cluster: c.up(nodes)))
        finally:
            cluster.down(quiet=True)
    return times


def describe(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f} s (1 run)"
    return (
        f"median {statistics.median(values):.1f} s, min {min(values):.1f} s, "
        f"max {max(values):.1f} s ({len(values)} runs)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--cold-toolchain", action="store_true", help="also build from scratch")
    parser.add_argument(
        "--scales", default="4,100,1000", help="GPU node counts (default %(default)s)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per side at 4 and 100 nodes")
    return parser.parse_args()


def toolchain_rows(reps: int, cold: bool) -> list[tuple[str, str]]:
    """The toolchain check (and, if `cold`, its build from scratch) and the simulated
    cluster's start, `reps` times each."""
    rows = [("toolchain check, warm (cache present)", describe(bench_toolchain_warm(reps)))]
    if cold:
        rows.append(("toolchain build, cold (empty Go caches)", describe([bench_toolchain_cold()])))
    start_times = bench_cluster_start(reps, "healthy")
    rows.append(("simulated cluster up to all 4 nodes Ready, warm", describe(start_times)))
    return rows


def real_component_rows(reps: int) -> list[tuple[str, str]]:
    """NVIDIA's real device plugin and the real nodes: time to advertise, to start and stop,
    and resident memory."""
    costs = [bench_real_plugin() for _ in range(reps)]
    rss = [mib for c in costs for mib in c.rss_mib]
    real = [bench_real_nodes() for _ in range(reps)]
    node_rss = [mib for r in real for mib in r.rss_mib]
    return [
        (
            "real device plugin (v0.20.0): DaemonSet created -> 3 GPU nodes advertise",
            describe([c.advertised_s for c in costs]),
        ),
        (
            "real device plugin: resident memory per process, registered",
            f"median {statistics.median(rss):.1f} MiB, max {max(rss):.1f} MiB "
            f"({len(rss)} processes)",
        ),
        (
            "real nodes: cluster up to 2 real GPU nodes Ready, warm",
            describe([r.up_s for r in real]),
        ),
        (
            "real node: resident memory, idle (kubelet, kube-proxy, containerd, init)",
            f"median {statistics.median(node_rss):.1f} MiB, max {max(node_rss):.1f} MiB "
            f"({len(node_rss)} nodes)",
        ),
        ("real nodes: `sim down` of that cluster", describe([r.down_s for r in real])),
    ]


def bench_overhead(scales: list[int], quick: bool, runs_per_side: int, header: str) -> None:
    """The suite against hand-written commands at each scale; prints and records the table."""
    results = []
    for gpu_nodes in scales:
        # Fewer runs at 1,000 nodes, where one side takes minutes.
        runs = 1 if quick or gpu_nodes >= 1000 else runs_per_side
        print(f"scale {gpu_nodes} GPU nodes, {runs} run(s) per side ...", flush=True)
        results.append(bench_scale(gpu_nodes, runs))
    overhead = table(results, collection_time())
    print(overhead)
    write_section(
        "overhead" + ("-quick" if quick else ""),
        f"## Suite overhead and API load{' (quick)' if quick else ''}\n\n{header}\n\n{overhead}",
    )


def main() -> int:
    args = parse_args()
    reps = 1 if args.quick else 5
    scales = [4] if args.quick else [int(n) for n in args.scales.split(",")]
    toolchain.ensure_toolchain()
    rows = toolchain_rows(reps, args.cold_toolchain) + real_component_rows(reps)
    table_md = "| measurement | result |\n|---|---|\n" + "".join(
        f"| {a} | {b} |\n" for a, b in rows
    )
    print(table_md)
    versions = ", ".join(f"{c.name} {c.version}" for c in toolchain.load_components())
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"toolchain {versions}."
    )
    write_section("toolchain", f"## Simulated cluster and toolchain\n\n{header}\n\n{table_md}")
    bench_overhead(scales, args.quick, args.runs, header)
    return 0


def write_section(name: str, section: str) -> None:
    """Replace one named section of BENCHMARKS.md, keeping the rest."""
    marker_start, marker_end = f"<!-- bench {name} start -->", f"<!-- bench {name} end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n\n"
    block = f"{marker_start}\n{section}{marker_end}\n"
    if marker_start in text:
        before, rest = text.split(marker_start, 1)
        after = rest.split(marker_end, 1)[1].lstrip("\n")
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
