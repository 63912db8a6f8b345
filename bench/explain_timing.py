"""Time `gpuconform explain` on saved outputs: the whole command (a fresh process, as a user
runs it) and the explanation alone (catalogue already loaded), per file.

    .venv/bin/python bench/explain_timing.py [FILE...]   (default: the real-world corpus)

Prints one line per file and the slowest; the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.explain_files import read_text_file

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real-world"


def command_seconds(path: Path, runs: int = 3) -> float:
    """The median of a few runs: the machine is shared, one run may wait for a core."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "gpuconform.cli", "explain", str(path)],
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def explain_seconds(path: Path, repeat: int = 20) -> float:
    evidence = [Evidence("file", str(path), read_text_file(path))]
    explain(evidence)  # load the signatures and the catalogue once, as a long run does
    start = time.perf_counter()
    for _ in range(repeat):
        explain(evidence)
    return (time.perf_counter() - start) / repeat


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted(
        p for p in CORPUS.rglob("*") if p.suffix in (".txt", ".log")
    )
    rows = [(p, command_seconds(p), explain_seconds(p)) for p in paths]
    for path, command, alone in rows:
        size = path.stat().st_size
        print(f"{command:6.3f} s command  {alone * 1000:7.2f} ms explain  {size:7d} B  {path.name}")
    slowest = max(rows, key=lambda r: r[1])
    print(
        f"slowest command: {slowest[1]:.3f} s ({slowest[0].name}); "
        f"slowest explain alone: {max(r[2] for r in rows) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
