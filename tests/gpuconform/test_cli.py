"""The command line (gpuconform/cli.py): `gpuconform explain FILE...` on saved outputs, including
unusable files, and `gpuconform history`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.gpuconform.report.fakes import write_run

DATA = Path(__file__).resolve().parents[1] / "data"


def explain(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuconform.cli", "explain", *paths],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_explains_saved_outputs_in_order_of_blame():
    proc = explain(
        str(DATA / "outputs/plugin-nvml-missing.log"), str(DATA / "outputs/probe-broken-driver.txt")
    )
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith("1. [driver] libnvidia-ml.so.1")
    assert "> nvidia-container-cli: initialization error: load library failed" in proc.stdout


def test_healthy_output_explains_to_nothing_wrong():
    proc = explain(str(DATA / "outputs/container-cli-healthy.txt"))
    assert proc.returncode == 0
    assert "No failure found in the evidence." in proc.stdout
    assert "(info) nvidia-container-cli warnings" in proc.stdout


def test_missing_empty_and_binary_files_get_one_line_each(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_text("")
    binary = tmp_path / "core.bin"
    binary.write_bytes(b"\x7fELF\0\0\0")
    proc = explain(str(tmp_path / "nope.log"), str(empty), str(binary))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gpuconform: {tmp_path / 'nope.log'}: no such file",
        f"gpuconform: {empty}: the file is empty",
        f"gpuconform: {binary}: a binary file; pass saved text output (logs, describe)",
    ]
    assert "Traceback" not in proc.stderr


def test_seed_container_cli_info_reads_as_a_healthy_driver_layer():
    """The seed runbook's `nvidia-container-cli info` (benign warnings) and raw H200 nvidia-smi."""
    proc = explain(
        str(DATA / "real-world/healthy/cloud-atlas-nvidia-container-cli-info.txt"),
        str(DATA / "h200-host/nvidia-smi-q.txt"),
    )
    assert proc.returncode == 0
    healthy = proc.stdout.split("Healthy:\n")[1].splitlines()
    assert healthy[0].startswith(
        "   [driver] driver layer healthy: NVRM 525.60.13, CUDA 12.0, 1 GPU(s)"
    )
    assert healthy[1].startswith(
        "   [driver] driver layer healthy: driver 580.159.04, CUDA 13.0, 1 GPU(s) (NVIDIA H200)"
    )


def test_first_broken_layer_first_then_what_is_healthy():
    proc = explain(
        str(DATA / "real-world/k8s-device-plugin-28-ldcache.txt"),
        str(DATA / "real-world/healthy/nvidia-docker-904-cli-info-tail.txt"),
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("1. [container-runtime] The container toolkit's hook cannot run")
    assert [line[:3] for line in lines if line[:1].isdigit()] == ["1. ", "2. "]
    assert "2. [device-plugin]" in proc.stdout
    assert proc.stdout.index("2. [device-plugin]") < proc.stdout.index("Healthy:")


def test_list_catalogue_prints_every_id_with_its_layer():
    proc = explain("--list-catalogue")
    assert proc.returncode == 0
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert all(len(row) == 4 for row in rows)
    ids = {row[0]: row[1] for row in rows}
    assert ids["scheduler-untolerated-taint"] == "scheduler"
    assert ids["nvidia-container-cli-stage-error"] == "container-runtime"
    assert ids["insufficient-gpu"] == "scheduler"  # signatures.yaml's, listed first
    assert {layer for layer in ids.values()} == {
        "node-labels",
        "driver",
        "container-runtime",
        "device-plugin",
        "scheduler",
        "workload",
    }


def test_explain_without_files_says_what_it_needs():
    proc = explain()
    assert proc.returncode == 2
    assert "name the files to explain" in proc.stderr


def test_history_command_prints_the_trend(tmp_path, capsys):
    from gpuconform.cli import main

    reports = tmp_path / "reports"
    write_run(reports, "sim", "20261128T010000Z", [])
    write_run(reports, "sim", "20261129T010000Z", ["test_ready"])
    assert main(["history", "--profile", "sim", "--reports-dir", str(reports)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("date")
    assert "CONFORMANT" in lines[1] and lines[2].endswith("test_ready")
    assert main(["history", "--profile", "nope", "--reports-dir", str(reports)]) == 1
    assert "no runs of profile nope" in capsys.readouterr().out
