"""The simulated cluster's chart repository: NVIDIA's published charts (chart_repo.yaml's
versions, from the third-party directory) served over HTTP on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gpuconform.sim import third_party, toolchain
from gpuconform.sim.local import SimClusterError, SimPaths, free_port

CHART_REPO_FILE = Path(__file__).with_name("chart_repo.yaml")


def start(paths: SimPaths) -> None:
    """Serve NVIDIA's published charts (chart_repo.yaml's versions) over HTTP."""
    spec = yaml.safe_load(CHART_REPO_FILE.read_text())
    helm = str(toolchain.require_binary("helm"))
    paths.charts_dir.mkdir(parents=True, exist_ok=True)
    charts = [
        ("device-plugin", third_party.chart_archive, spec["versions"]),
        ("DRA driver", third_party.dra_chart_archive, spec.get("dra_driver_versions", [])),
    ]
    for what, find, versions in charts:
        for version in versions:
            archive = find(str(version))
            if archive is None:
                raise SimClusterError(
                    f"NVIDIA's {what} chart {version} is not in the third-party directory; "
                    f"set {third_party.ENV_VAR} to the directory that holds it"
                )
            shutil.copy(archive, paths.charts_dir / archive.name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    subprocess.run(
        [helm, "repo", "index", str(paths.charts_dir), "--url", url],
        check=True,
        capture_output=True,
        text=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(paths.charts_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    paths.chart_repo_pid.write_text(str(server.pid))
    paths.chart_repo_url.write_text(url)
