"""The demo's real nodes (issue 17): warm `gpuconform sim up` of the `sim` profile's nodes
(real-healthy: 3 GPU nodes, 1 CPU node), each node's start time and idle resident memory, and
warm `make demo` wall time. Writes its section of BENCHMARKS.md with the machine's load.

  python bench/real_demo.py [--runs N]

Run it warm (`make toolchain` and one `sim up` before), with nothing else of ours running; the
load averages before and after are reported because the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from real_nodes import node_rss_mib  # noqa: E402
from run import write_section  # noqa: E402

from gpuconform.sim.cluster import SimCluster  # noqa: E402
from gpuconform.sim.realnode import leftovers  # noqa: E402

PROFILE = "real-healthy"  # the `sim` profile's nodes (clusters.yaml)
# fleet.start_real_nodes reports each node's prepare + start to `ready`.
NODE_STARTED = re.compile(r"real node (\S+) started in ([0-9.]+)s")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def sim_up_once() -> tuple[float, list[float], list[float], float]:
    """Wall seconds of `sim up` as the CLI runs it, each node's start, each node's idle RSS,
    and `sim down`'s seconds."""
    name = f"gpuconform-bench-demo-{os.getpid()}"
    cli = [sys.executable, "-m", "gpuconform.cli", "sim"]
    started = time.monotonic()
    up = subprocess.run(
        [*cli, "up", "--name", name, "--nodes", PROFILE], capture_output=True, text=True
    )
    up_s = time.monotonic() - started
    try:
        if up.returncode != 0:
            raise SystemExit(f"sim up failed: {up.stderr.strip()[-500:]}")
        nodes = [float(s) for _, s in NODE_STARTED.findall(up.stdout + up.stderr)]
        state = SimCluster(name, log=lambda line: None).paths.state_dir
        rss = [node_rss_mib(r, state) for r in leftovers.load_records(state)]
    finally:
        stopping = time.monotonic()
        subprocess.run([*cli, "down", "--name", name], capture_output=True, check=False)
    return up_s, nodes, rss, time.monotonic() - stopping


def make_demo() -> tuple[float, int]:
    started = time.monotonic()
    proc = subprocess.run(["make", "demo"], cwd=REPO, capture_output=True, text=True)
    return time.monotonic() - started, proc.returncode


def spread(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values) + f" (median {statistics.median(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="sim up runs (make demo: 1)")
    args = parser.parse_args()
    load_before = load()
    ups = [sim_up_once() for _ in range(args.runs)]
    demo_s, demo_rc = make_demo()
    load_after = load()
    rows = [
        (
            f"`gpuconform sim up --nodes {PROFILE}` (4 real nodes Ready), warm, s",
            spread([u[0] for u in ups]),
        ),
        ("one real node: prepare + start to `ready`, s", spread([n for u in ups for n in u[1]])),
        ("one real node: resident memory, idle, MiB", spread([m for u in ups for m in u[2]])),
        ("`gpuconform sim down`, s", spread([u[3] for u in ups])),
        (
            "`make demo` (sim up, the whole suite, sim down), warm, s",
            f"{demo_s:.1f} (exit {demo_rc})",
        ),
    ]
    table = "| measurement | result |\n|---|---|\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/real_demo.py` on "
        f"{os.cpu_count()} cores shared with other sessions: load average {load_before} "
        f"before, {load_after} after."
    )
    print(header + "\n\n" + table)
    write_section("real-demo", f"## The demo on real nodes (issue 17)\n\n{header}\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
