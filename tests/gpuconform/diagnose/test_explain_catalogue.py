"""The explainer with the catalogue: parsed structure, ranking, confidence, never silent.

Texts are built from the components' format strings (the catalogue entry's source says
which file); none is copied from a report. The component vocabularies of issue 22's third
round are in test_explain_vocabulary3.py, the DRA driver's messages in test_explain_dra.py.
"""

from __future__ import annotations

from pathlib import Path

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.model import EXACT, LAYER_ONLY


def explained(text: str, source: str = "file"):
    return explain([Evidence(source, "x", text)])


TAINT_LINE = (
    "  Warning  FailedScheduling  12s  default-scheduler  0/3 nodes are available: "
    "1 node(s) had untolerated taint {nvidia.com/gpu: present}, 2 Insufficient nvidia.com/gpu. "
    "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
)


def test_fit_error_names_the_taint_before_gpus_not_advertised():
    causes = explained(TAINT_LINE).causes
    assert [f.signature.id for f in causes][:2] == [
        "scheduler-untolerated-taint",
        "insufficient-gpu",
    ]
    first = causes[0]
    assert first.layer == "scheduler" and first.confidence == EXACT
    assert "{nvidia.com/gpu: present}" in first.signature.diagnosis
    assert "NoSchedule or NoExecute" in first.signature.diagnosis
    assert "toleration for nvidia.com/gpu" in first.signature.remediation


def test_a_reason_about_gpus_comes_before_one_about_other_nodes():
    # "1 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable" - the cordoned node is
    # not the GPU node's problem; the GPU reason comes first though its filter runs later.
    line = "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable."
    assert [f.signature.id for f in explained(line).causes] == [
        "insufficient-gpu",
        "scheduler-node-unschedulable",
    ]


def test_preemption_summary_is_information_not_a_cause():
    ids = [f.signature.id for f in explained(TAINT_LINE).findings]
    assert "scheduler-preemption-not-helpful" not in ids  # the FitError before "preemption:"


def test_container_cli_stage_is_explained_from_its_parts():
    # libnvidia-container src/cli/configure.c: warnx("mount error: %s", ...), wrapped by runc
    # and containerd as the kubelet reports it.
    line = (
        "Error: failed to create containerd task: failed to create shim task: OCI runtime create "
        "failed: runc create failed: unable to start container process: error during container "
        "init: error running hook #0: error running hook: exit status 1, stdout: , stderr: "
        "nvidia-container-cli: mount error: stat failed: /run/nvidia/driver/usr/bin: no such file"
    )
    causes = explained(line).causes
    # The outer links of the chain (containerd, runc, the hook) give way to the innermost.
    assert [f.signature.id for f in causes] == ["nvidia-container-cli-stage-error"]
    primary = causes[0]
    assert "'mount' step" in primary.signature.diagnosis
    assert "stat failed: /run/nvidia/driver/usr/bin" in primary.signature.diagnosis
    assert primary.layer == "container-runtime"


def test_an_nvml_code_wrapped_by_a_generic_message_says_the_layer():
    # k8s-device-plugin internal/plugin/factory.go: "nvml init failed: %v" with a go-nvml name.
    causes = explained("E0101 factory.go:105] nvml init failed: ERROR_DRIVER_NOT_LOADED").causes
    assert causes[0].signature.id == "nvml-driver-not-loaded"
    assert causes[0].layer == "driver"


def test_cuda_code_in_a_workload_log():
    primary = explained("RuntimeError: CUDA error: out of memory").primary
    assert primary.layer == "workload"
    assert "GPU memory" in primary.signature.diagnosis


def test_never_silent_an_unknown_error_names_its_innermost_component():
    line = "stderr: nvidia-container-cli: frobnication error: the widget failed"
    primary = explained(f"Error: failed to start containerd task: {line}").primary
    assert primary.confidence in (EXACT, LAYER_ONLY)
    assert primary.layer == "container-runtime"
    unknown = explained("nfd-worker: the flux capacitor failed").primary
    assert unknown.confidence == LAYER_ONLY
    assert unknown.layer == "node-labels"
    assert unknown.signature.id == "layer-nfd"
    assert unknown.lines == ("nfd-worker: the flux capacitor failed",)
    assert "lower confidence" in explained("nfd-worker: the flux capacitor failed").render()


def test_never_silent_each_layer_has_a_component():
    lines = {
        "node-labels": "nfd-master: failed to frobnicate",
        "driver": "NVRM: something failed on the bus",
        "container-runtime": "runc: unexpected failure while frobnicating",
        "device-plugin": "gpu-kubelet-plugin: could not frobnicate the claim",
        "scheduler": "kube-scheduler: failed to frobnicate",
        "workload": "torch: unexpected failure in frobnicate",
    }
    for layer, line in lines.items():
        primary = explained(line).primary
        assert primary is not None, line
        assert primary.layer == layer, (line, primary.signature.id)


def test_an_events_row_without_a_component_is_its_source_columns():
    row = "  Warning  FrobnicateFailed  1m  kubelet  Error: the frobnicator failed"
    primary = explained(row).primary
    assert (primary.signature.id, primary.confidence) == ("layer-kubelet", LAYER_ONLY)


def test_text_that_names_no_component_is_the_only_unknown():
    explanation = explained("hello world: everything failed")
    assert explanation.primary is None
    assert explanation.render().startswith("No known failure signature matched the evidence.")


def test_text_that_names_a_component_without_an_error_is_still_said():
    explanation = explained("I0101 12:00:00.000000 1 main.go:1] nvidia-device-plugin starting")
    assert explanation.primary.layer == "device-plugin"
    assert explanation.primary.signature.severity == "warning"
    assert "No known failure signature" not in explanation.render()


def test_exact_findings_rank_before_layer_only_ones():
    # The NFD guess is in an earlier layer, but only a guess: the exact scheduler finding leads.
    causes = explain(
        [
            Evidence("events", "ns/pod", TAINT_LINE),
            Evidence("file", "nfd.log", "nfd-worker: it failed"),
        ]
    ).causes
    assert [(f.layer, f.confidence) for f in causes] == [
        ("scheduler", EXACT),
        ("scheduler", EXACT),
        ("node-labels", LAYER_ONLY),
    ]


def test_every_finding_exposes_layer_and_confidence():
    for finding in explained(TAINT_LINE + "\nRuntimeError: CUDA error: out of memory").findings:
        assert finding.layer and finding.confidence in (EXACT, LAYER_ONLY)


def test_within_a_layer_the_cause_comes_before_the_crash_loop_it_causes():
    # A pod listing and the crashing DRA kubelet plugin's log (cmd/gpu-kubelet-plugin/root.go:
    # "error locating %q"), in one file.
    text = (
        "nvidia-dra-driver-gpu-kubelet-plugin-x2x   0/1   CrashLoopBackOff   5 (108s ago)   6m\n"
        'E0101 00:00:00.000000 1 main.go:50] error locating "libnvidia-ml.so.1"\n'
    )
    ids = [f.signature.id for f in explained(text).causes]
    assert ids == ["dra-kubelet-plugin-locate", "plugin-crash-loop"]


HEALTHY_DESCRIBE = """\
Name:             gpu-test
Node:             gpu-1/10.0.0.5
Status:           Succeeded
    Limits:
      nvidia.com/gpu:  1
Tolerations:                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                             node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
                             nvidia.com/gpu:NoSchedule op=Exists
Events:
  Type    Reason     Age   From               Message
  ----    ------     ----  ----               -------
  Normal  Scheduled  30s   default-scheduler  Successfully assigned default/gpu-test to gpu-1
  Normal  Started    29s   kubelet            Started container cuda
"""


HEALTHY_PLUGIN_LOG = """\
I1129 09:14:02.119930       1 main.go:238] Starting FS watcher for /var/lib/kubelet/device-plugins
I1129 09:14:02.205000 1 server.go:148] Registered device plugin for 'nvidia.com/gpu' with Kubelet
"""


def test_healthy_kubectl_and_plugin_output_blames_nothing():
    # kubectl describe's default tolerations and Normal events, the plugin's klog info lines.
    for text, source in ((HEALTHY_DESCRIBE, "describe"), (HEALTHY_PLUGIN_LOG, "plugin-log")):
        explanation = explained(text, source)
        assert [f for f in explanation.causes if f.signature.severity == "error"] == []
        assert all(f.only_named for f in explanation.causes)


def test_a_report_that_pastes_a_working_nvidia_smi_still_names_the_failing_layer():
    # An issue report's usual shape: the host's nvidia-smi works (real H200 capture), then
    # the error a pod got. The nvidia-smi -q fields ("... Exceeded : No") are never decisive.
    data = Path(__file__).resolve().parents[2] / "data" / "h200-host"
    smi = (data / "nvidia-smi-q.txt").read_text()
    alone = explain([Evidence("file", "smi", smi)])
    assert alone.causes == [] and alone.healthy
    text = smi + "\nnfd-worker: the flux capacitor failed\n"
    explanation = explain([Evidence("file", "report", text)])
    assert explanation.primary.signature.id == "layer-nfd"
    assert explanation.healthy  # and the driver layer is still reported healthy


def test_the_control_planes_taint_is_the_clusters_normal_state_and_comes_last():
    line = (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 2 node(s) had untolerated taint "
        "{nvidia.com/gpu: present}. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling."
    )
    primary = explained(line).primary
    assert primary.signature.id == "scheduler-untolerated-taint"
    assert "{nvidia.com/gpu: present}" in primary.signature.diagnosis
    other = (
        "0/2 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/master: }, 1 node(s) didn't match Pod's node affinity/selector."
    )
    assert explained(other).primary.signature.id == "scheduler-node-affinity"


def test_an_unknown_filter_reason_is_still_one_finding_with_its_count():
    line = "0/2 nodes are available: 2 node(s) exceeded the frobnication budget."
    primary = explained(line).primary
    assert (primary.signature.id, primary.confidence) == ("scheduler-filter-reason", EXACT)
    assert primary.signature.diagnosis.startswith("2 node(s) were rejected by a scheduler filter")
