"""The node probe and explainer on outputs captured on the sim's REAL nodes (issue 17's layout:
GPU Operator driver root at /run/nvidia/driver, the toolkit in CDI mode, no
nvidia-container-cli). tests/data/real-node-probe/README.md says how each was captured."""

from __future__ import annotations

from pathlib import Path

from gpuconform.diagnose.catalogue import load_catalogue
from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.fallback import decisive_finding
from gpuconform.diagnose.parse import message_lines
from gpuconform.diagnose.probe import parse_probe

DATA = Path(__file__).resolve().parents[2] / "data" / "real-node-probe"
HEALTHY = (DATA / "healthy-gpu-node-0.txt").read_text()
NO_NVML = (DATA / "no-nvml-gpu-broken-0.txt").read_text()
CDI_GENERATE = (DATA / "nvidia-ctk-cdi-generate.log").read_text()
MODESET = next(line for line in CDI_GENERATE.splitlines() if "nvidia-modeset" in line)


def _ids(*evidence: Evidence) -> dict[str, str]:
    return {f.signature.id: f.signature.severity for f in explain(list(evidence)).findings}


def test_the_healthy_real_node_runs_the_driver_roots_nvidia_smi():
    probe = parse_probe(HEALTHY)
    # The root the node's CDI spec mounts libnvidia-ml from, not the host's / (no nvidia-smi).
    assert probe.text("driver root").endswith("/root/run/nvidia/driver")
    assert "from the CDI spec's libnvidia-ml" in probe.text("container toolkit")
    assert probe.exit_code("nvidia-smi -L") == 0 and len(probe.gpu_models) == 8
    assert probe.driver_ok


def test_the_healthy_real_node_has_no_finding_at_all():
    explanation = explain([Evidence("node-probe", "gpu-node-0", HEALTHY, "gpu-node-0")])
    assert explanation.findings == []
    assert [h.summary() for h in explanation.healthy] == [
        "driver layer healthy: 8 GPU(s) (Mock NVIDIA A100-SXM4-40GB)"
    ]


def test_a_cdi_mode_runtime_does_not_need_nvidia_container_cli():
    probe = parse_probe(HEALTHY)
    assert "nvidia-container-runtime mode = cdi" in probe.text("container toolkit")
    assert "not needed: nvidia-container-runtime mode = cdi" in probe.text(
        "nvidia-container-cli info"
    )
    assert "container-toolkit-missing" not in _ids(Evidence("node-probe", "n", HEALTHY, "n"))


def test_the_faulty_real_node_is_still_a_driver_fault():
    probe = parse_probe(NO_NVML)
    assert probe.text("driver root") == "/" and not probe.driver_ok
    ids = _ids(Evidence("node-probe", "gpu-broken-0", NO_NVML, "gpu-broken-0"))
    assert ids == {"libnvidia-ml-not-loadable-on-node": "error"}


def test_without_a_toolkit_config_the_missing_cli_still_warns():
    # The real H200 host: driver in the host root, no container toolkit installed at all.
    h200 = Path(__file__).resolve().parents[2] / "data" / "gpu-host" / "2026-12-01-s2"
    out = (h200 / "node-probe.txt").read_text()
    assert _ids(Evidence("node-probe", "h200", out, "h200")) == {
        "container-toolkit-missing": "warning"
    }


def test_a_logged_warning_is_never_the_decisive_error_line():
    assert "level=warning" in MODESET and "Could not locate /dev/nvidia-modeset" in MODESET
    item = Evidence("plugin-log", "gpu-operator/nvidia-device-plugin-x", MODESET, "gpu-node-0")
    lines = message_lines(item.text)
    assert decisive_finding(item, "gpu-node-0", lines, set(), load_catalogue()) is None
    # The same words at error level still are.
    error = Evidence("plugin-log", item.subject, MODESET.replace("level=warning", "level=error"))
    found = decisive_finding(error, None, message_lines(error.text), set(), load_catalogue())
    assert found is not None and found.layer == "driver"


def test_nvidia_ctk_warnings_beside_a_healthy_probe_blame_nothing():
    ids = _ids(
        Evidence("node-probe", "gpu-node-0", HEALTHY, "gpu-node-0"),
        Evidence("plugin-log", "gpu-operator/nvidia-device-plugin-x", CDI_GENERATE, "gpu-node-0"),
    )
    assert ids == {}
