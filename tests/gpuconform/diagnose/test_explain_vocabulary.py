"""Issue 22, fourth round: parse rules and vocabularies that name a cause from the component's
own words - NVML codes without the word NVML, CUDA sample output, the kubelet's device-plugin
client, the scheduler's in-flight DRA allocation, GPU resets, eBPF device filters, AppArmor,
RBAC on NFD/GFD, package managers missing kernel headers.

Texts are built from the components' format strings (each catalogue entry's source says
which file); none is copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.catalogue import load_catalogue
from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.model import EXACT
from gpuconform.diagnose.parse import find_cuda_codes, find_nvml_codes, parse_fit_error


def first(text: str) -> str | None:
    primary = explain([Evidence("file", "x", text)]).primary
    return primary.signature.id if primary else None


def nvml_codes(line: str) -> list[str]:
    catalogue = load_catalogue()
    return find_nvml_codes(line, set(catalogue.codes["nvml"]), catalogue.code_texts["nvml"])


def cuda_codes(line: str) -> list[str]:
    catalogue = load_catalogue()
    return find_cuda_codes(
        line,
        set(catalogue.codes["cuda"]),
        catalogue.code_texts["cuda"],
        catalogue.cuda_runtime_codes,
    )


# --- parse: NVML codes where the line does not say "NVML" -----------------------------


def test_a_missing_nvml_symbol_is_function_not_found():
    line = "my-plugin: symbol lookup error: my-plugin: undefined symbol: nvmlDeviceGetFoo_v9"
    assert nvml_codes(line) == ["ERROR_FUNCTION_NOT_FOUND"]


def test_a_missing_symbol_of_another_library_is_no_nvml_code():
    assert nvml_codes("undefined symbol: cuGetProcAddress_v2") == []


def test_a_go_nvml_return_name_counts_next_to_a_gpu_term():
    # go-nvml's Return printed with %v by mig-parted: no "NVML" on the line.
    assert nvml_codes("error getting GPU instance profile info for '2g.10gb': ERROR_NOT_SUPPORTED")
    assert nvml_codes("failed to get device handle: ERROR_GPU_IS_LOST") == ["ERROR_GPU_IS_LOST"]


def test_an_error_name_without_gpu_context_is_not_nvml():
    assert nvml_codes("request failed: ERROR_NOT_SUPPORTED") == []


@pytest.mark.parametrize(
    ("reason", "code"),
    [("GPU is lost", "ERROR_GPU_IS_LOST"), ("Insufficient Permissions", "ERROR_NO_PERMISSION")],
)
def test_nvidia_smi_device_handle_reads_nvml_error_string(reason, code):
    line = f"Unable to determine the device handle for GPU0000:65:00.0: {reason}.  More text"
    assert nvml_codes(line) == [code]


def test_nvidia_smi_device_handle_needs_the_whole_text():
    assert nvml_codes("Unable to determine the device handle for GPU0000:65:00.0: GPU is") == []


# --- parse: CUDA sample output -------------------------------------------------------


def test_cuda_sample_error_code_text_is_a_cuda_code():
    # cuda-samples vectorAdd: "Failed to allocate device vector A (error code %s)!"
    line = "Failed to allocate device vector A (error code no CUDA-capable device is detected)!"
    assert cuda_codes(line)


def test_error_code_text_outside_the_samples_form_needs_cuda_words():
    assert cuda_codes("malloc failed: error code out of memory") == []
    assert cuda_codes("Failed to copy vector (error code out of memory)!")


# --- parse: the scheduler's in-flight DRA allocation ---------------------------------


def test_in_flight_claim_is_one_reason_for_every_node():
    line = (
        "0/4 nodes are available: resource claim ns/shared is in the process of being "
        "allocated. no new claims to deallocate, preemption: 0/4 nodes are available: "
        "4 Preemption is not helpful for scheduling."
    )
    fit = parse_fit_error(line)
    assert fit is not None
    assert [(r.count, r.text) for r in fit.reasons] == [
        (4, "resource claim ns/shared is in the process of being allocated")
    ]
    assert first(line) == "scheduler-dra-claim-in-flight"


# --- classification: each vocabulary names its cause first ---------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # kubelet devicemanager/plugin/v1beta1/client.go
        (
            'E0101 00:00:00.000000 1 client.go:90] "ListAndWatch ended unexpectedly for device '
            'plugin" err="rpc error: code = Unavailable desc = EOF" resource="vendor.com/dev"',
            "kubelet-listandwatch-ended",
        ),
        # devicemanager/manager.go + the plugin's checkpoint parse error (encoding/json)
        (
            "Error: device plugin PreStartContainer rpc failed with err: rpc error: code = "
            "Unknown desc = failed to read from checkpoint file due to json: cannot unmarshal "
            "object into Go struct field PodDevicesEntry.DeviceIDs of type []string",
            "plugin-kubelet-checkpoint-format",
        ),
        # runc libcontainer/container_linux.go signalInit
        (
            "runc did not terminate successfully: unable to signal init: permission denied",
            "runc-signal-init-denied",
        ),
        # runc/cgroups devices/ebpf_linux.go, under libnvidia-container's mount stage
        (
            "nvidia-container-cli: mount error: failed to add device rules: failed to call "
            "BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI): invalid argument",
            "nvidia-container-cli-device-filter",
        ),
        # mig-parted apply/mode.go after nvidia-smi -r
        (
            "The following GPUs could not be reset:\n  GPU 00000000:07:00.0: In use by another "
            "client\nerror resetting all GPUs: exit status 255",
            "gpu-reset-in-use",
        ),
        # mig-parted pkg/mig/config/config.go
        (
            "error getting GPU instance profile info for '3g.20gb': ERROR_NOT_SUPPORTED",
            "mig-profile-not-supported",
        ),
        # CUDA cudaErrorSystemNotReady as cuda-samples print it
        (
            "Failed to allocate device vector A (error code system not yet initialized)!",
            "fabric-manager-not-ready",
        ),
        ("CUDA error: system not yet initialized", "fabric-manager-not-ready"),
        # GKE API GPUDriverInstallationConfig INSTALLATION_DISABLED
        (
            "gpuDriverInstallationConfig: gpuDriverVersion: INSTALLATION_DISABLED",
            "gke-driver-installation-disabled",
        ),
        # dnf / apt in a driver container
        (
            "Error: Unable to find a match: kernel-devel-5.14.0-70.13.1.el9_0.x86_64",
            "driver-container-kernel-mismatch",
        ),
        (
            "E: Unable to locate package linux-headers-6.8.0-1015-aws",
            "driver-container-kernel-mismatch",
        ),
        # kmod
        (
            "modprobe: FATAL: Module nvidia not found in directory /lib/modules/6.1.0-9-amd64",
            "nvidia-module-not-loaded",
        ),
        # glibc's loader, a toolkit library the image lacks
        (
            "ImportError: libcublasLt.so.12: cannot open shared object file: No such file",
            "cuda-toolkit-library-missing",
        ),
        # apiserver forbiddenMessage for GFD's service account
        (
            'nodes "n1" is forbidden: User "system:serviceaccount:gpu:gpu-feature-discovery" '
            'cannot patch resource "nodes" in API group "" at the cluster scope',
            "node-labels-rbac-forbidden",
        ),
        # kernel AppArmor audit record on an NVIDIA device node
        (
            'audit: type=1400 apparmor="DENIED" operation="open" profile="docker-default" '
            'name="/dev/nvidia-uvm" pid=1 comm="python" requested_mask="wr" denied_mask="wr"',
            "apparmor-denied-gpu",
        ),
        (
            'audit: type=1400 apparmor="DENIED" operation="signal" profile="runc" pid=1 '
            'comm="runc" requested_mask="send" denied_mask="send" signal=kill',
            "apparmor-denied",
        ),
        # k8s-device-plugin server.go Register dialing the kubelet's socket (gRPC's errno)
        (
            "Could not register device plugin: rpc error: code = Unavailable desc = connection "
            'error: desc = "transport: Error while dialing: dial unix '
            '/var/lib/kubelet/device-plugins/kubelet.sock: connect: no such file or directory"',
            "plugin-kubelet-socket-missing",
        ),
        # kernel module loader for nvidia-peermem without OFED's ib_core
        (
            "nvidia_peermem: Unknown symbol ib_register_peer_memory_client (err -2)",
            "nvidia-peermem-needs-ofed",
        ),
        # the kernel module built for another kernel stays the generic reading
        (
            "nvidia: disagrees about version of symbol module_layout",
            "kernel-module-built-for-another-kernel",
        ),
        # cudaGetErrorString of cudaErrorDevicesUnavailable before CUDA 11 (`also`)
        (
            "RuntimeError: CUDA error: all CUDA-capable devices are busy or unavailable",
            "cudart-devices-unavailable",
        ),
        # PyTorch's and TensorFlow's words
        ("RuntimeError: No CUDA GPUs are available", "cuda-no-device"),
        (
            "gpu_device.cc:2211] Cannot dlopen some GPU libraries. Please make sure",
            "cuda-toolkit-library-missing",
        ),
        # runc/cgroups devices/ebpf_linux.go: the query before the attach, not permitted
        (
            "nvidia-container-cli: mount error: failed to add device rules: unable to find any "
            "existing device filters attached to the cgroup: bpf_prog_query(BPF_CGROUP_DEVICE) "
            "failed: operation not permitted",
            "nvidia-container-cli-device-filter",
        ),
        # kubelet lifecycle/predicate.go at admission
        (
            "Warning  NodeAffinity  1s  kubelet  Predicate NodeAffinity failed",
            "kubelet-admission-predicate-failed",
        ),
        # The container's own command, a driver utility the runtime injects
        (
            'runc create failed: unable to start container process: exec: "nvidia-smi": '
            "executable file not found in $PATH: unknown",
            "container-has-no-driver",
        ),
    ],
)
def test_vocabulary_names_the_cause_first(text, expected):
    assert first(text) == expected


def test_a_missing_runtime_binary_is_still_the_runtime_s():
    line = 'exec: "nvidia-container-runtime": executable file not found in $PATH'
    assert first(line) == "oci-executable-not-found"


def test_nfd_worker_wrapping_a_nodefeature_error_is_nfd_not_gfd():
    # nfd-worker.go wraps the NodeFeature error GFD prints too.
    line = (
        'E0101 main.go:93] "error while running" err="failed to advertise features (via CRD '
        'API): failed to get NodeFeature object: nodefeatures.nfd.k8s-sigs.io \\"n1\\" is '
        'forbidden: User \\"system:serviceaccount:nfd:nfd-worker\\" cannot get resource'
    )
    assert first(line) == "nfd-nodefeature-failed"
    assert first("failed to get NodeFeature object: connection refused") == "gfd-failed"


def test_new_findings_are_exact_and_fill_their_parts():
    text = "failed to get device handle for GPU 3: undefined symbol: nvmlDeviceGetBar_v2"
    primary = explain([Evidence("file", "x", text)]).primary
    assert primary.signature.id == "nvml-function-not-found"
    assert primary.confidence == EXACT
    line = "error getting GPU instance profile info for '4g.40gb': ERROR_NOT_SUPPORTED"
    diagnosis = explain([Evidence("file", "x", line)]).primary.signature.diagnosis
    assert "(4g.40gb)" in diagnosis


def test_an_unknown_apparmor_line_still_names_its_layer():
    # Never silent: no entry knows the wording, the component prefix gives the layer.
    primary = explain([Evidence("file", "x", "AppArmor profile load failed: bad rule")]).primary
    assert primary is not None
    assert primary.signature.id == "layer-apparmor"
    assert primary.layer == "container-runtime" and primary.confidence != EXACT


@pytest.mark.parametrize(
    ("line", "component_id", "layer"),
    [
        ("dcgm-exporter: error collecting metrics from field group 42", "layer-dcgm", "driver"),
        ("nvidia-gridd: error: unexpected reply from the feature server", "layer-vgpu", "driver"),
        (
            'no matches for kind "ClusterPolicy" in version "nvidia.com/v1"',
            "layer-gpu-operator",
            "driver",
        ),
        (
            "failed to create device nodes: unable to load the kernel module nvidia-uvm",
            "layer-driver",
            "driver",
        ),
    ],
)
def test_unknown_lines_of_more_components_name_their_layer(line, component_id, layer):
    primary = explain([Evidence("file", "x", line)]).primary
    assert primary is not None
    assert (primary.signature.id, primary.layer) == (component_id, layer)
    assert primary.confidence != EXACT
