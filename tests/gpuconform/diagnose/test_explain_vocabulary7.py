"""Issue 22, seventh round: GPU-sharing schedulers (HAMi, KAI, Volcano) and their device
plugins, DCGM's status texts, stale CDI host devices, GFD's MIG-INVALID product, MIG tools that
do not know a GPU, KubeVirt's GPU host devices, crun's mount API, MIG-profile and shared-GPU
shortages, nvidia-smi's exit status, MIG resources left at 0, and curated signatures that name
their consequences (`explains`).

Texts are built from the components' format strings (each catalogue entry's source says
which file); none is copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.explain import Evidence, explain


def explanation(text: str):
    return explain([Evidence("file", "x", text)])


def first(text: str) -> str | None:
    primary = explanation(text).primary
    return primary.signature.id if primary else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'I0101 score.go:1] "request devices nums cannot exceed the total number of devices '
            'on the node." pod="ns/p" request devices nums=4 node device nums=2',
            "hami-request-exceeds-node-devices",
        ),
        ("no enough gpu cards on node gpu-1", "hami-request-exceeds-node-devices"),
        ("FilteringFailed: 2 nodes CardInsufficientMemory(n1,n2)", "hami-card-insufficient"),
        ("Allocate failed due to no binding pod found on node n1", "hami-no-binding-pod"),
        (
            "The pod ns/p requires GPU: 1, CPU: 0 (cores), memory: 0 (GB). No node in the "
            "default node-pool has GPU resources",
            "kai-no-node-has-resource",
        ),
        ("node not initialized with device hamivgpu", "volcano-node-device-not-initialized"),
        (
            "[HAMI-core ERROR (pid:7 thread=1 allocator.c:53)]: Device 0 OOM 2048 / 1024",
            "hami-core-vgpu-oom",
        ),
        (
            "python: symbol lookup error: /usr/local/vgpu/libvgpu.so: undefined symbol: _dl_sym,"
            " version GLIBC_PRIVATE",
            "hami-core-glibc-symbol",
        ),
        (
            'level=fatal msg="Error watching fields: Profiling is not supported for this group '
            'of GPUs or GPU"',
            "dcgm-profiling-unsupported",
        ),
        ("Host engine connection invalid/disconnected", "dcgm-hostengine-unreachable"),
        (
            'level=fatal msg="Error starting nv-hostengine: DCGM initialization error"',
            "dcgm-init-failed",
        ),
        (
            'failed to inject devices: failed to stat CDI host device "/dev/dri/card1": '
            "no such file or directory",
            "cdi-host-device-missing",
        ),
        ('"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3-MIG-INVALID",', "gfd-mig-invalid"),
        (
            "WARNING: unable to get device name: [failed to find device with id '2ffe']",
            "mig-parted-unknown-gpu-model",
        ),
        (
            "failed to creade GPU host-devices: the number of GPU/s do not match the number of "
            "devices",
            "kubevirt-gpu-host-devices-mismatch",
        ),
        (
            "Error: OCI runtime error: crun: fsopen_mount tmpfs: Function not implemented",
            "crun-mount-api-unsupported",
        ),
        (
            "nvidia-container-cli: requirement error: unsatisfied condition: brand = tesla",
            "nvidia-container-cli-brand-requirement",
        ),
        (
            "nvidia-container-cli: device error: no-gpu-has-512MiB-to-run: unknown device",
            "gpushare-no-assumed-gpu",
        ),
        ('error="failed to run nvidia-smi: exit status 9"', "nvidia-smi-exit-status"),
        ("  nvidia.com/mig-1g.10gb:  0", "node-mig-resource-zero"),
        (
            'running Reserve plugin "DynamicResources": waiting for resource driver to allocate '
            "resource",
            "dra-classic-controller-waiting",
        ),
        (
            "failed to fetch ResourceClaim c referenced by pod p: the server could not find the "
            "requested resource",
            "dra-api-version-not-served",
        ),
        (
            "ERROR: Failed to run `/usr/sbin/dkms build -m nvidia -v 550.54.14 -k 6.8.0-1`",
            "driver-dkms-build-failed",
        ),
        (
            "ERROR: nvidia-container-runtime: inject NVIDIA hook: stat "
            "/usr/bin/nvidia-container-runtime-hook: no such file or directory",
            "oci-executable-not-found",
        ),
        (
            "nvidia-container-cli: error while loading shared libraries: libnvidia-container.so.1:"
            " cannot open shared object file: No such file or directory",
            "libnvidia-container-library-missing",
        ),
        (
            "E0825 artifacts.go:106] Failed to download gpu_default_version from public GCS: "
            "failed to download gpu_default_version, status: 401 Unauthorized",
            "cos-gpu-installer-download-failed",
        ),
        (
            'Failed to create pod sandbox: RuntimeHandler "nvidia" not supported',
            "containerd-no-runtime-handler",
        ),
    ],
)
def test_each_component_message_names_its_entry(text, expected):
    assert first(text) == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Insufficient nvidia.com/mig-3g.40gb", "scheduler-insufficient-mig-resource"),
        ("Insufficient nvidia.com/gpu.shared", "scheduler-insufficient-shared-gpu"),
        ("Insufficient nvidia.com/gpucores", "scheduler-vgpu-resource-without-extender"),
        ("Insufficient nvidia.com/gpu", "insufficient-gpu"),
    ],
)
def test_gpu_resource_shortages_are_told_apart(reason, expected):
    text = f"0/3 nodes are available: 3 {reason}. preemption: 0/3 nodes are available."
    assert first(text) == expected


def test_nvidia_smi_exit_status_is_read_as_its_nvml_code():
    finding = explanation("nvidia-smi failed: exit status 15").primary
    assert "fallen off the bus" in finding.signature.diagnosis


def test_dcgm_profiling_skipped_at_info_level_is_not_a_failure():
    # Newer exporters skip the profiling metrics and go on: no finding.
    text = (
        'level=info msg="Not collecting DCP metrics: Profiling is not supported for this group '
        'of GPUs or GPU"'
    )
    assert explanation(text).causes == []


def test_secure_boot_ranks_before_the_driver_error_it_causes():
    text = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
        "Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7"
    )
    ids = [f.signature.id for f in explanation(text).causes]
    assert ids[:2] == ["secure-boot-module-rejected", "nvidia-smi-cannot-reach-driver"]


@pytest.mark.parametrize(
    ("line", "component_id"),
    [
        (
            "Warning  FilteringFailed  hami-scheduler  no available node",
            "layer-gpu-sharing-scheduler",
        ),
        (
            "E0101 volcano-scheduler: failed to allocate vgpu-memory for task",
            "layer-gpu-sharing-scheduler",
        ),
        ("[HAMI-core ERROR (pid:1 thread=2 x.c:1)]: cannot find shared region", "layer-hami-core"),
        ("nvidia-gridd: error: unexpected reply from the feature server", "layer-vgpu"),
    ],
)
def test_unknown_lines_of_the_sharing_schedulers_name_their_layer(line, component_id):
    # No entry knows these lines: the component's prefix still names the layer (never silent),
    # and HAMi's or Volcano's "vgpu" resource names are not NVIDIA vGPU licensing.
    assert first(line) == component_id
