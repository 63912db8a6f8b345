"""parse.py on real-shaped strings. Each string is built from the format string in the
component's source (cited), not from a report."""

from __future__ import annotations

from gpuconform.diagnose.catalogue import load_catalogue
from gpuconform.diagnose.parse import (
    FitReason,
    find_cuda_codes,
    find_nvml_codes,
    fit_error_span,
    message_lines,
    parse_event_line,
    parse_fit_error,
    wrapped_messages,
)
from gpuconform.diagnose.structured import classify_reason, fit_error_hits


def test_fit_error_lists_every_reason_with_its_node_count():
    # pkg/scheduler/framework/types.go FitError.Error(): "0/%v nodes are available: %v." with
    # "%d %s" per reason; newer releases add " preemption: ...".
    line = (
        "0/3 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, "
        "2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling."
    )
    fit = parse_fit_error(line)
    assert (fit.available, fit.total) == (0, 3)
    assert fit.reasons == (
        FitReason(1, "node(s) had untolerated taint {nvidia.com/gpu: present}"),
        FitReason(2, "Insufficient nvidia.com/gpu"),
    )


def test_fit_error_of_older_releases_keeps_the_comma_inside_a_reason():
    # taint_toleration.go before "untolerated taint": "node(s) had taint {%s: %s}, that the
    # pod didn't tolerate".
    line = (
        "0/2 nodes are available: 1 node(s) had taint {nvidia.com/gpu: true}, that the pod "
        "didn't tolerate, 1 node(s) didn't match node selector."
    )
    reasons = parse_fit_error(line).reasons
    assert [r.count for r in reasons] == [1, 1]
    reason, groups = classify_reason(reasons[0], load_catalogue())
    assert reason.signature.id == "scheduler-untolerated-taint"
    assert groups["key2"] == "nvidia.com/gpu"
    assert (
        classify_reason(reasons[1], load_catalogue())[0].signature.id == "scheduler-node-affinity"
    )


def test_every_scheduler_reason_of_the_catalogue_is_classified():
    # One sample per Filter reason, as the plugins' ErrReason constants spell them.
    samples = {
        "node(s) were unschedulable": "scheduler-node-unschedulable",
        "node(s) didn't match the requested node name": "scheduler-node-name",
        "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }": (
            "scheduler-untolerated-taint"
        ),
        "node(s) didn't match Pod's node affinity/selector": "scheduler-node-affinity",
        "node(s) didn't have free ports for the requested pod ports": "scheduler-node-ports",
        "Insufficient nvidia.com/gpu": "insufficient-gpu",
        "Insufficient nvidia.com/mig-1g.10gb": "scheduler-insufficient-mig-resource",
        "Insufficient nvidia.com/gpu.shared": "scheduler-insufficient-shared-gpu",
        "Insufficient nvidia.com/gpumem": "scheduler-vgpu-resource-without-extender",
        "Insufficient example.com/fpga": "scheduler-insufficient-resource",
        "Too many pods": "scheduler-too-many-pods",
        "cannot allocate all claims": "scheduler-dra-cannot-allocate",
        "Preemption is not helpful for scheduling": "scheduler-preemption-not-helpful",
    }
    catalogue = load_catalogue()
    for text, expected in samples.items():
        reason, _ = classify_reason(FitReason(1, text), catalogue)
        assert reason.signature.id == expected, text


def test_event_rows_of_describe_and_get_events():
    # kubectl describe's events table and `kubectl get events` columns.
    row = (
        "  Warning  FailedCreatePodSandBox  3m (x2 over 4m)  kubelet  Failed to create pod "
        "sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: "
        'no runtime for "nvidia" is configured'
    )
    event = parse_event_line(row)
    assert (event.type, event.reason, event.source) == (
        "Warning",
        "FailedCreatePodSandBox",
        "kubelet",
    )
    assert event.message.startswith("Failed to create pod sandbox")
    got = parse_event_line("3m  Warning  FailedScheduling  pod/gpu-test  0/1 nodes are available")
    assert (got.reason, got.message) == ("FailedScheduling", "0/1 nodes are available")
    assert parse_event_line("plain log line") is None


def test_nvml_codes_by_name_and_by_error_string():
    nvml = load_catalogue().codes["nvml"]
    texts = load_catalogue().code_texts["nvml"]
    # k8s-device-plugin internal/plugin/factory.go: "nvml init failed: %v" (go-nvml name).
    assert find_nvml_codes("nvml init failed: ERROR_LIBRARY_NOT_FOUND", set(nvml), texts) == [
        "ERROR_LIBRARY_NOT_FOUND"
    ]
    # libnvidia-container: "nvml error: %s" with nvmlErrorString's text (driver 580.159.04).
    line = (
        "nvidia-container-cli: initialization error: nvml error: "
        "driver/library version mismatch: unknown"
    )
    assert find_nvml_codes(line, set(nvml), texts) == ["ERROR_LIB_RM_VERSION_MISMATCH"]
    # A text that does not speak of NVML is not read as a code.
    assert find_nvml_codes("Not Found", set(nvml), texts) == []


def test_cuda_codes_by_name_number_and_text():
    catalogue = load_catalogue()
    names, texts = set(catalogue.codes["cuda"]), catalogue.code_texts["cuda"]
    runtime = catalogue.cuda_runtime_codes
    assert find_cuda_codes("cuInit failed: CUDA_ERROR_NO_DEVICE", names, texts, runtime) == [
        "CUDA_ERROR_NO_DEVICE"
    ]
    # deviceQuery prints "cudaGetDeviceCount returned %d" (a cudaError number).
    assert find_cuda_codes("cudaGetDeviceCount returned 35", names, texts, runtime) == [
        "cudaErrorInsufficientDriver"
    ]
    # cudaGetErrorString's text on a line that speaks of CUDA.
    assert find_cuda_codes("RuntimeError: CUDA error: out of memory", names, texts, runtime) == [
        "cudaErrorMemoryAllocation"
    ]
    assert find_cuda_codes("the disk ran out of memory", names, texts, runtime) == []


def test_a_fit_error_wrapped_over_indented_lines_is_read_whole():
    # `kubectl describe` and YAML block scalars wrap a long FitError; the reason that spans the
    # break ("taint {%s: %s}, that the" / "pod didn't tolerate") stays one reason.
    lines = [
        "    message: >-",
        "      0/4 nodes are available: 1 node(s) had taint {dedicated: ml}, that the",
        "      pod didn't tolerate, 3 Insufficient nvidia.com/gpu.",
        "    reason: Unschedulable",
    ]
    text, end = fit_error_span(lines, 1)
    assert end == 3
    assert [r.count for r in parse_fit_error(text).reasons] == [1, 3]
    # A log line is never continued by the next log line.
    assert fit_error_span(["0/1 nodes are available: 1 Too many pods,", "I0101 next"], 0)[1] == 1


def _ranked(line: str) -> list[str]:
    """The ids of a FitError's reasons in the order of blame."""
    hits = sorted(fit_error_hits([line], load_catalogue(), {}), key=lambda h: h.order)
    return [h.signature.id for h in hits]


def test_a_shortage_ranks_after_the_filter_that_rejected_the_other_nodes():
    # A node rejected by InterPodAffinity (after NodeResourcesFit) had the free GPU.
    line = (
        "0/4 nodes are available: 1 node(s) didn't match pod affinity rules, "
        "3 Insufficient nvidia.com/gpu."
    )
    assert _ranked(line) == ["scheduler-pod-affinity", "insufficient-gpu"]
    # A cordoned node is a normal state: the shortage on the others comes first.
    line = "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable."
    assert _ranked(line)[0] == "insufficient-gpu"


def test_escaped_quotes_of_a_log_field_read_as_quotes():
    # containerd logs an error as a quoted logfmt field: error="... \"nvidia\" ..."
    line = (
        'level=error msg="RunPodSandbox failed" error="no runtime for \\"nvidia\\" is configured"'
    )
    assert 'no runtime for "nvidia" is configured' in message_lines(line)[0]
    assert (
        message_lines('caused \\\\\\"error running hook\\\\\\"')[0] == 'caused "error running hook"'
    )


def test_a_message_wrapped_over_indented_lines_is_joined_for_matching():
    lines = ["  Warning  Failed  1s  kubelet  no runtime for", '    "nvidia" is configured', ""]
    assert wrapped_messages(lines) == [(0, lines[0].rstrip() + ' "nvidia" is configured')]


def test_fit_error_of_releases_up_to_1_9_names_predicates_with_counts():
    # plugin/pkg/scheduler/core/generic_scheduler.go: NoNodeAvailableMsg + ": %v." with
    # "%v (%v)" per reason; predicates/error.go names (PodToleratesNodeTaints, ...).
    line = (
        "No nodes are available that match all of the following predicates:: "
        "Insufficient nvidia.com/gpu (1), PodToleratesNodeTaints (1)."
    )
    reasons = parse_fit_error(line).reasons
    assert reasons == (
        FitReason(1, "Insufficient nvidia.com/gpu"),
        FitReason(1, "PodToleratesNodeTaints"),
    )
    reason, _ = classify_reason(reasons[1], load_catalogue())
    assert reason.signature.id == "scheduler-untolerated-taint"
    # The taint is not named (it may be the control plane's): the GPU shortage comes first.
    assert _ranked(line)[0] == "insufficient-gpu"


def test_a_shortage_on_the_nodes_the_pod_selected_ranks_before_its_own_selection():
    line = (
        "0/5 nodes are available: 2 Insufficient nvidia.com/gpu, "
        "3 node(s) didn't match Pod's node affinity/selector."
    )
    assert _ranked(line) == ["insufficient-gpu", "scheduler-node-affinity"]
