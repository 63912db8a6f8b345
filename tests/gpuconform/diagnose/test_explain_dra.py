"""The explainer on the DRA driver's messages (issue 19), built from their format strings: the
init container's driver check, claims, CDI devices, the kubelet plugin's warnings.
"""

from __future__ import annotations

from gpuconform.diagnose.explain import Evidence, explain
from tests.gpuconform.diagnose.test_explain_catalogue import explained

# The DRA driver's messages (issue 19), built from their format strings.
PRESTART_ROOT = "/run/nvidia/driver"


def test_the_dra_init_containers_driver_check_names_the_driver_root():
    # hack/kubelet-plugin-prestart.sh v25.12.0: the per-attempt line, then emit_common_err.
    text = (
        f"2026-12-01T04:00:00Z  /driver-root ({PRESTART_ROOT} on host): nvidia-smi: not found, "
        "libnvidia-ml.so.1: not found, current contents: [lib].\n\n"
        "Check failed. Has the NVIDIA GPU driver been set up? It is expected to be installed "
        f"under NVIDIA_DRIVER_ROOT (currently set to '{PRESTART_ROOT}') in the host filesystem.\n"
    )
    primary = explained(text).primary
    assert primary.signature.id == "dra-driver-root-check-failed"
    assert f"({PRESTART_ROOT} on the host)" in primary.signature.diagnosis
    assert "nvidiaDriverRoot" in primary.signature.remediation


def test_a_healthy_driver_check_line_is_no_failure():
    # The same script on a working node: both files found, nvidia-smi exits 0.
    text = (
        "2026-12-01T04:00:00Z  /driver-root (/ on host): nvidia-smi: '/driver-root/usr/bin/"
        "nvidia-smi', libnvidia-ml.so.1: '/driver-root/usr/lib64/libnvidia-ml.so.1', current "
        "contents: [bin lib64 usr].\nnvidia-smi returned with code 0: success, leave\n"
    )
    assert "dra-driver-root-check-failed" not in [f.signature.id for f in explained(text).findings]


def test_a_device_still_prepared_for_another_claim_names_both():
    # cmd/gpu-kubelet-plugin/device_state.go: "requested device %s is already allocated to
    # different claim %s", wrapped by driver.go's "error preparing devices for claim %s: %w".
    text = (
        "  Warning  FailedPrepareDynamicResources  3s  kubelet  Failed to prepare dynamic "
        "resources: NodePrepareResources failed for ResourceClaim gpu-b: error preparing devices "
        "for claim 6a1f: prepare devices failed: requested device gpu-3 is already allocated to "
        "different claim 0c9e\n"
    )
    primary = explained(text).primary
    assert primary.signature.id == "dra-device-prepared-for-other-claim"
    assert (
        "GPU gpu-3" in primary.signature.diagnosis and "claim 0c9e" in primary.signature.diagnosis
    )


def test_an_unresolvable_dra_cdi_device_is_the_dra_drivers_not_the_device_plugins():
    dra_line = (
        "CDI device injection failed: unresolvable CDI devices k8s.gpu.nvidia.com/claim=1-gpu-0"
    )
    plugin_line = "CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all"
    assert explained(dra_line).primary.signature.id == "dra-cdi-device-unresolvable"
    assert explained(plugin_line).primary.signature.id == "cdi-device-unresolvable"


def test_a_gpu_seen_without_a_request_names_the_toolkit_and_plugin_settings():
    # The suite's own failure (suites/test_40_scheduling.py).
    text = (
        "a pod without an nvidia.com/gpu request saw GPUs ['GPU-1'] - the NVIDIA runtime "
        "exposes devices outside the scheduler"
    )
    primary = explained(text, source="failure").primary
    assert primary.signature.id == "gpu-visible-without-request"
    fix = primary.signature.remediation
    assert "accept-nvidia-visible-devices-envvar-when-unprivileged = false" in fix
    assert "deviceListStrategy cdi-cri" in fix and "volume-mounts" in fix


def test_the_dra_plugins_pcie_root_warning_is_no_cause():
    # A healthy node's gpu-kubelet-plugin log (simulated GPUs have no /sys/bus/pci link).
    text = (
        "W1201 04:19:47.412978       1 nvlib.go:491] error getting PCIe root for device 0, "
        "continuing without attribute: failed to resolve PCIe Root Complex for PCI Bus ID "
        "0000:1a:00.0\n"
    )
    explanation = explained(text, source="plugin-log")
    assert explanation.primary is None
    assert [f.signature.id for f in explanation.findings] == ["dra-pcie-root-unavailable"]


def test_a_node_without_resourceslices_is_named_and_ranked_after_its_cause():
    # The dra step's own finding (gpuconform/dra_checks.py), then the plugin's init container.
    failure = (
        "DRA not ready: gpu-dra-broken-0: no Ready DRA kubelet plugin (init container "
        "init-container still running: its driver check has not passed); gpu-dra-broken-0: "
        "publishes no ResourceSlice (fix: see the kubelet plugin's log)\n"
    )
    alone = explained(failure, source="failure").primary
    assert alone.signature.id == "dra-no-resourceslice"
    assert "gpu-dra-broken-0" in alone.cause and "init-container" in alone.signature.remediation
    init_log = (
        "Check failed. Has the NVIDIA GPU driver been set up? It is expected to be installed "
        "under NVIDIA_DRIVER_ROOT (currently set to '/') in the host filesystem.\n"
    )
    both = explain([Evidence("failure", "check", failure), Evidence("plugin-log", "p", init_log)])
    assert [f.signature.id for f in both.causes] == [
        "dra-driver-root-check-failed",
        "dra-no-resourceslice",
    ]
