"""Issue 22, eighth round: never silent on text that names a GPU-stack thing without a
component prefix (a node's resource list, GPU resource names, CUDA's own error sentences,
KubeVirt), and the vocabularies behind held-out-7's reachable misses (a driver image tag for
any OS, cluster-autoscaler's template-node reasons, containerd's TOML type errors, HAMi-core's
CUresult numbers, NCCL's shm_open refusal, the toolkit's envvar refusal, quota status unknown).

Texts are built from the components' format strings (each catalogue entry's source names
the file they come from), not copied from a report.
"""

from __future__ import annotations

import pytest

from tests.gpuconform.diagnose.test_explain_vocabulary7 import explanation, first


def node_status(*resources: str) -> str:
    """A kubectl describe node Capacity/Allocatable block listing these resources."""
    body = "".join(f" {r}:  1\n" for r in ("cpu", "memory", *resources, "pods"))
    return f"Capacity:\n{body}Allocatable:\n{body}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CUDA's own sentence (cudaGetErrorString of cudaErrorNoKernelImageForDevice) in a
        # program's frame that never says CUDA.
        (
            "what(): for_each failed: no kernel image is available for execution on the device",
            "cudart-no-kernel-image-for-device",
        ),
        # HAMi-core's CUresult by number (2 = CUDA_ERROR_OUT_OF_MEMORY).
        (
            "[HAMI-core ERROR (pid:1 thread=2 allocator.c:9)]: cuMemoryAllocate failed res=2",
            "cuda-error-out-of-memory",
        ),
        (
            "error: insufficient privileges to read device list from NVIDIA_VISIBLE_DEVICES envvar",
            "toolkit-envvar-devices-unprivileged",
        ),
        (
            "Ignoring devices specified in NVIDIA_VISIBLE_DEVICES (privileged=false, "
            "accept-nvidia-visible-devices-envvar-when-unprivileged=false)",
            "toolkit-envvar-devices-unprivileged",
        ),
        (
            '{"component":"virt-controller","reason":"failed to render launch manifest: GPU '
            'nvidia.com/TU104GL_Tesla_T4 is not permitted in permittedHostDevices configuration"}',
            "kubevirt-gpu-host-devices-mismatch",
        ),
        (
            'Failed to pull image "nvcr.io/nvidia/driver:550.54.15-flatcar3815.2.0": '
            "nvcr.io/nvidia/driver:550.54.15-flatcar3815.2.0: not found",
            "driver-image-not-published-for-os",
        ),
        (
            "Scale-up predicate failed: PodFitsResources predicate mismatch, cannot put ns/p on "
            "template-node-for-gpu-pool-123, reason: Insufficient nvidia.com/gpu",
            "autoscaler-no-group-fits-gpu",
        ),
        (
            'predicate "NodeResourcesFit" didn\'t pass (predicateReasons=[Insufficient '
            'nvidia.com/gpu]; debugInfo=nodeName: "template-node-for-gpu-pool-1")',
            "autoscaler-no-group-fits-gpu",
        ),
        (
            "containerd: toml: cannot load TOML value of type string into a Go integer",
            "containerd-config-toml-invalid",
        ),
        (
            "h:1:2 [0] include/shm.h:27 NCCL WARN Call to shm_open failed : Permission denied\n"
            "h:1:2 [0] include/shm.h:48 NCCL WARN Error while creating shared memory segment "
            "nccl-shm-recv-1 (size 4460544)",
            "pod-shm-not-writable",
        ),
        (
            'Error creating: pods "p-" is forbidden: status unknown for quota: gpu-quota, '
            "resources: requests.nvidia.com/gpu",
            "resource-quota-status-unknown",
        ),
    ],
)
def test_component_vocabulary(text, expected):
    assert first(text) == expected


def test_a_node_status_without_a_gpu_resource_says_none_is_advertised():
    primary = explanation(node_status("ephemeral-storage")).primary
    assert primary.signature.id == "node-no-gpu-resource"
    assert primary.signature.layer == "device-plugin"
    assert primary.signature.severity == "warning"  # lower confidence: it blames nothing


@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "alpha.kubernetes.io/nvidia-gpu"])
def test_a_node_status_with_a_gpu_resource_names_it(resource):
    primary = explanation(node_status(resource)).primary
    assert primary.signature.id == "layer-gpu-resource"
    assert primary.signature.severity == "warning"
    assert resource in primary.lines[0]


def test_a_short_cuda_text_needs_a_cuda_frame():
    # "out of memory" is any program's words; only CUDA's long sentences stand alone.
    assert first("java.lang.OutOfMemoryError: out of memory") is None


def test_text_naming_no_gpu_thing_stays_unexplained():
    assert explanation("Capacity-planning meeting at noon\nall good").primary is None
