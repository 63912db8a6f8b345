"""Where the suite finds its profiles and its pytest settings, however it is started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# suites/ as collected: the dra step's 5 are deselected only once the gate has run.
SUITE_CHECKS = 20


def collect(cwd: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "-q",
            "--reports-dir",
            str(tmp_path / "reports"),
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_chart_path_outside_the_repo_in_the_space_form_is_the_charts(tmp_path):
    chart = tmp_path / "elsewhere" / "chart"
    chart.mkdir(parents=True)
    proc = collect(REPO, tmp_path, "--cluster=sim", "--chart", str(chart))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{SUITE_CHECKS} tests collected" in proc.stdout
    assert "tests/" not in proc.stdout  # the project's testpaths (suites/), not the cwd


def test_clusters_yaml_is_found_in_the_working_directory_first(tmp_path):
    (tmp_path / "clusters.yaml").write_text(
        "profiles:\n  mine:\n    context: mine\n    chart: {repo: https://example.invalid}\n"
    )
    proc = collect(tmp_path, tmp_path, "--cluster=mine", str(REPO / "suites"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{SUITE_CHECKS} tests collected" in proc.stdout


def test_the_projects_clusters_yaml_serves_any_other_directory(tmp_path):
    proc = collect(tmp_path, tmp_path, "--cluster=sim", str(REPO / "suites"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    unknown = collect(tmp_path, tmp_path, "--cluster=no-such-profile", str(REPO / "suites"))
    assert unknown.returncode == 4
    assert "not a profile in clusters.yaml" in unknown.stderr + unknown.stdout
