"""Issue 22, tenth round: the general readings behind held-out-9's misses and silent cases -
the API server refusing a Node's labels and kbuild's modpost refusing a kernel module, read as
exact entries and, for their other wordings, as lower-confidence component markers
(components.yaml) that name a layer; nvidia-peermem's
own symbols and CUDA's unsupported-PTX error ranked before the generic readings; HAMi-core
needing a CUDA driver function the node's libcuda lacks; nfd-worker unable to reach nfd-master;
GFD writing a label value Kubernetes refuses; dpkg unable to replace a bind-mounted toolkit file;
gpu-manager's vcuda library reading no container config; nccl-tests' NCCLCHECK line;
Volcano's node accounting out of sync.

Texts are built from the components' format strings (each entry's source names the file
they come from), not copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.model import LAYER_ONLY
from tests.gpuconform.diagnose.test_explain_vocabulary7 import explanation, first


@pytest.mark.parametrize(
    ("text", "expected", "layer"),
    [
        # apimachinery NewInvalid("Node", name, errs) with a field error no exact entry reads.
        (
            'Error from server (Invalid): Node "gpu-1" is invalid: metadata.labels: Required '
            "value: name part must be non-empty",
            "layer-node-label-validation",
            "node-labels",
        ),
        # modpost's undefined-symbol error for a module no exact entry reads.
        (
            'ERROR: modpost: "some_sym" [/usr/src/mydrv/mydrv.ko] undefined!',
            "layer-kernel-module-build",
            "driver",
        ),
    ],
)
def test_general_component_markers(text, expected, layer):
    primary = explanation(text).primary
    assert (primary.signature.id, primary.signature.layer) == (expected, layer)
    assert primary.confidence == LAYER_ONLY


def test_a_pod_label_refused_is_not_a_node_label():
    text = (
        'The Pod "train-0" is invalid: metadata.labels: Invalid value: "x(y)": a valid label '
        "must be an empty string or consist of alphanumeric characters"
    )
    assert first(text) not in {"layer-node-label-validation", "node-label-refused-by-apiserver"}


def test_the_nvidia_modules_modpost_refusal_keeps_its_exact_entry():
    text = "ERROR: modpost: GPL-incompatible module nvidia.ko uses GPL-only symbol 'rcu_read_lock'"
    assert first(text) == "driver-dkms-build-failed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cudaGetErrorString(cudaErrorUnsupportedPtxVersion) in a program's own error line.
        (
            "ERROR: CUDA error: the provided PTX was compiled with an unsupported toolchain., "
            "line 148, file main.cu",
            "cuda-newer-than-driver",
        ),
        ("cuModuleLoadData failed: CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "cuda-newer-than-driver"),
        # glibc's loader resolving HAMi-core's hook of a CUDA driver API function.
        (
            "python: symbol lookup error: /usr/local/vgpu/libvgpu.so: undefined symbol: "
            "cuMemAllocFromPoolAsync",
            "hami-core-cuda-symbol",
        ),
        # grpc-go's failed dial of nfd-master's Service from nfd-worker.
        (
            "W0101 00:00:00.000000 1 component.go:41] [core]grpc: addrConn.createTransport "
            "failed to connect to {nfd-master:8080 nfd-master:8080 <nil> 0 <nil>}. Err: "
            'connection error: desc = "transport: Error while dialing dial tcp 10.96.0.12:8080: '
            'connect: connection refused". Reconnecting...',
            "nfd-worker-master-unreachable",
        ),
        # A GFD label line whose value IsValidLabelValue refuses (a space, a parenthesis).
        ("nvidia.com/gpu.product=Quadro-RTX-A4000 (Laptop)", "gfd-label-value-invalid"),
        ("nvidia.com/gpu.product=Tesla T4", "gfd-label-value-invalid"),
        # dpkg's tarobject backup link failing with EXDEV on a bind-mounted toolkit binary.
        (
            "dpkg: error processing archive /tmp/nvidia-container-toolkit_1.17.0-1_amd64.deb "
            "(--unpack):\n unable to make backup link of './usr/bin/nvidia-container-runtime' "
            "before installing new version: Invalid cross-device link",
            "toolkit-package-file-bind-mounted",
        ),
        # vcuda-controller's loader with no driver version read: the library name ends in a dot.
        (
            "/tmp/cuda-control/src/loader.c:100 can't find library libnvidia-ml.so.",
            "vcuda-config-not-read",
        ),
        # nccl-tests' NCCLCHECK line, older and newer (with ncclGetLastError) forms.
        ("node-1: Test NCCL failure common.cu:777 'unhandled system error'", "nccl-error"),
        (
            "node-1: Test NCCL failure common.cu:891 'unhandled cuda error (run with "
            "NCCL_DEBUG=INFO for details) / '",
            "nccl-error",
        ),
        # Volcano's node accounting (klog structured lines of node_info.go).
        (
            'E0101 00:00:00.000000 1 node_info.go:298] "Node out of sync" name="gpu-1" '
            'resources=["nvidia.com/gpu"]',
            "volcano-node-out-of-sync",
        ),
        # apimachinery NewInvalid("Node", ...) with IsQualifiedName's length error.
        (
            'Error from server (Invalid): Node "gpu-1" is invalid: metadata.labels: Invalid '
            'value: "example.com/' + "a" * 64 + '": name part must be no more than 63 characters',
            "node-label-refused-by-apiserver",
        ),
        # modpost's check_exports for a module that is not the NVIDIA driver's.
        (
            "ERROR: modpost: GPL-incompatible module mydrv.ko uses GPL-only symbol 'some_sym'",
            "kernel-module-gpl-only-symbol",
        ),
        # kmod's refusal and the loader's lines for nvidia-peermem's peer-memory symbols.
        (
            "modprobe: ERROR: could not insert 'nvidia_peermem': Invalid argument\n"
            "nvidia_peermem: disagrees about version of symbol ib_register_peer_memory_client\n"
            "nvidia_peermem: Unknown symbol ib_register_peer_memory_client (err -22)",
            "nvidia-peermem-needs-ofed",
        ),
    ],
)
def test_specific_reading_before_the_generic_one(text, expected):
    assert first(text) == expected


def test_another_ptx_error_is_not_a_driver_older_than_the_toolchain():
    text = "CUDA error: the provided PTX contains unsupported call to cudaDeviceSynchronize"
    assert first(text) != "cuda-newer-than-driver"


def test_the_nvidia_module_itself_refused_is_not_peermem():
    assert first("modprobe: ERROR: could not insert 'nvidia': Invalid argument") != (
        "nvidia-peermem-needs-ofed"
    )


def test_hami_core_missing_a_glibc_symbol_keeps_its_own_entry():
    text = "ls: symbol lookup error: /usr/local/vgpu/libvgpu.so: undefined symbol: _dl_sym"
    assert first(text) == "hami-core-glibc-symbol"


def test_another_grpc_peer_unreachable_is_not_nfd_master():
    text = (
        "[core]grpc: addrConn.createTransport failed to connect to {otel-collector:4317 "
        'otel-collector:4317 <nil> 0 <nil>}. Err: connection error: desc = "transport: Error '
        'while dialing dial tcp: lookup otel-collector on 10.96.0.10:53: no such host"'
    )
    assert first(text) != "nfd-worker-master-unreachable"


@pytest.mark.parametrize(
    "line",
    [
        "nvidia.com/gpu.product=NVIDIA-H200",
        "nvidia.com/gpu.machine=PowerEdge-XE9680",
        # kubectl describe node: a taint, and --show-labels' comma-joined list.
        "              nvidia.com/gpu=present:NoSchedule",
        "nvidia.com/gpu.count=8,nvidia.com/gpu.family=hopper",
    ],
)
def test_valid_gfd_labels_and_taints_are_no_invalid_value(line):
    assert first(line) != "gfd-label-value-invalid"


# The Labels block of a node as the suite's diagnostics write it (node-<name>/node.txt, from a
# `make test` suite run on the simulated cluster): valid labels, one per line. Read as one
# wrapped message, the lines after gpu.family looked like a value with spaces and a slash.
NODE_STATE_LABELS = """Labels:
  node.kubernetes.io/instance-type=sim.h200x8
  nvidia.com/cuda.driver-version.full=580.159.04
  nvidia.com/gpu.count=8
  nvidia.com/gpu.family=hopper
  nvidia.com/gpu.memory=143771
  nvidia.com/gpu.present=true
  nvidia.com/gpu.product=NVIDIA-H200
Taints:
  nvidia.com/gpu=present:NoSchedule
"""


def test_a_nodes_valid_labels_one_per_line_are_no_invalid_value():
    found = explanation(NODE_STATE_LABELS).findings
    assert "gfd-label-value-invalid" not in [f.signature.id for f in found]


def test_another_backup_link_error_is_not_a_bind_mounted_toolkit_file():
    # EPERM on a toolkit file (an immutable file, a read-only overlay) is no cross-mount link.
    text = (
        "unable to make backup link of './usr/bin/nvidia-ctk' before installing new version: "
        "Operation not permitted"
    )
    assert first(text) != "toolkit-package-file-bind-mounted"


def test_vcuda_with_a_driver_version_is_not_a_missing_config():
    # The config was read (a version follows the dot): the driver library itself is missing.
    text = "/tmp/cuda-control/src/loader.c:100 can't find library libcuda.so.535.104.05"
    assert first(text) != "vcuda-config-not-read"


def test_nccl_tests_cuda_check_is_no_nccl_error():
    assert first("node-1: Test CUDA failure common.cu:100 'out of memory'") != "nccl-error"


def test_another_programs_node_out_of_sync_is_not_volcano():
    assert first("ERROR Connector error! Node out of sync no parent block") != (
        "volcano-node-out-of-sync"
    )
