"""Issue 22, fifth round: a cause ranks before the consequences it `explains` (the kernel
module's NVRM line before nvidia-smi's "couldn't communicate"), and the widened vocabularies -
GPU architectures an image refuses, GPUs that cannot be reset, another kernel driver holding
the GPU, the API server's extended-resource validation, the kubelet dialing a plugin, WSL2,
NFD without the API server, the toolkit's app-profile hook and a runtime config that is not
TOML.

Texts are built from the components' format strings (each catalogue entry's source says
which file); none is copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.model import EXACT

SMI = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


def ids(text: str) -> list[str]:
    return [f.signature.id for f in explain([Evidence("file", "x", text)]).causes]


def test_a_cause_ranks_before_the_consequence_it_explains():
    # nvidia-smi's line comes first in the text and is a curated signature, which would
    # otherwise rank first within the driver layer.
    text = f"{SMI}\nNVRM: The NVIDIA Tesla K80 GPU installed in this system is\n"
    found = ids(text)
    assert found[0] == "nvrm-gpu-not-supported-by-driver"
    assert "nvidia-smi-cannot-reach-driver" in found[1:]


def test_without_its_cause_the_consequence_stays_first():
    assert ids(SMI)[0] == "nvidia-smi-cannot-reach-driver"


def test_another_driver_holding_the_gpu_explains_no_devices_probed():
    text = (
        "ERROR: Unable to load the kernel module 'nvidia.ko'.\n"
        "NVRM: GPU 0000:3b:00.0 is already bound to NovaCore.\n"
        "NVRM: No NVIDIA devices probed.\n"
    )
    found = explain([Evidence("file", "x", text)]).primary
    assert found.signature.id == "nvrm-gpu-bound-to-other-driver"
    assert "NovaCore" in found.cause and "0000:3b:00.0" in found.cause


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # NGC containers' entrypoint; libnvidia-container's arch requirement; PyTorch.
        (
            "ERROR: Detected NVIDIA Tesla K40m GPU, which is not supported by this container",
            "framework-gpu-arch-unsupported",
        ),
        (
            "nvidia-container-cli: requirement error: unsatisfied condition: arch >= 8.0",
            "framework-gpu-arch-unsupported",
        ),
        ("Resetting GPU 00000000:17:00.0 is not supported.", "mig-mode-change-failed"),
        (
            'The Deployment "x" is invalid: spec.template.spec.containers[0].resources.requests: '
            'Invalid value: "2": must be equal to nvidia.com/gpu limit of 4',
            "extended-resource-request-not-limit",
        ),
        (
            '"Unable to connect to device plugin client with socket path" err="failed to dial '
            'device plugin: context deadline exceeded" path="/var/lib/kubelet/device-plugins/a"',
            "kubelet-cannot-dial-plugin",
        ),
        (
            "error building GPU Device: error getting device paths: "
            "error getting GPU device minor number: Not Supported",
            "plugin-wsl2-no-minor-number",
        ),
        (
            "failed to get self pod, cannot inherit ownerReference for NodeFeature",
            "nfd-worker-apiserver-unreachable",
        ),
        (
            "failed to create application profiles directory: "
            "mkdirat etc/nvidia/nvidia-application-profiles-rc.d: read-only file system",
            "toolkit-app-profile-dir-readonly",
        ),
        (
            'level=fatal msg="Error: unable to load config: (3, 7): '
            'unexpected token type in inline table: keys cannot contain { character"',
            "toolkit-runtime-config-not-toml",
        ),
        (
            "nvidia-container-cli: mount error: open failed: /sys/fs/cgroup/devices/"
            "kubepods.slice/devices.allow: no such file or directory: unknown",
            "nvidia-container-cli-device-cgroup-missing",
        ),
        # A message wrapped mid-word: the stage name is cut, the libnvidia-container text stays.
        (
            "ount error: file creation failed: /merged/usr/bin/nvidia-smi: file exists",
            "nvidia-container-cli-mount-point-taken",
        ),
        ("Error: unsupported CUDA version: driver 10.0 < image 11.2", "cuda-newer-than-driver"),
        # Breadth from the components' source (libnvidia-container, glibc's ldconfig, NVRM,
        # nvidia-smi's MIG commands, the driver container, the kubelet, the API server).
        (
            "nvidia-container-cli: mount error: stat failed: "
            "/proc/driver/nvidia/gpus/0000:65:00.0: no such file or directory: unknown",
            "nvidia-container-cli-driver-procfs",
        ),
        (
            "ldconfig: Can't create temporary cache file /etc/ld.so.cache~: Read-only file system",
            "cdi-hook-ldcache-readonly-rootfs",
        ),
        (
            "NVRM: The NVIDIA probe routine was not called for 2 device(s).",
            "nvrm-gpu-bound-to-other-driver",
        ),
        (
            "NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:",
            "nvrm-pci-bar-unavailable",
        ),
        (
            "Failed to create GPU instance: Insufficient Resources",
            "mig-instance-insufficient-resources",
        ),
        (
            "Could not unload NVIDIA driver kernel modules, driver is in use",
            "driver-module-already-loaded",
        ),
        (
            "Allocate failed due to rpc error: code = Unknown desc = no such device, "
            "which is unexpected",
            "plugin-allocate-failed",
        ),
        (
            'spec.containers[0].resources.limits[nvidia.com/gpu]: Invalid value: "500m": '
            "must be an integer",
            "extended-resource-request-not-limit",
        ),
        (
            "failed to create FS watcher for /var/lib/kubelet/device-plugins/: too many open files",
            "plugin-fs-watcher-inotify-limit",
        ),
        ("PKCS#7 signature not signed with a trusted key", "secure-boot-module-rejected"),
        (
            "nvidia-container-cli: initialization error: driver rpc error: timed out: unknown",
            "nvidia-container-cli-driver-rpc-timeout",
        ),
        (
            "forbidden: maximum nvidia.com/gpu usage per Container is 1, but limit is 2",
            "limitrange-gpu-exceeded",
        ),
        ("No GPU node found, watching for new nodes to join the cluster.", "operator-no-gpu-node"),
        ("Error response from daemon: Unknown runtime specified nvidia", "docker-unknown-runtime"),
        ("flag provided but not defined: -mig-strategy", "component-flag-unknown"),
        (
            "Unable to create a GPU instance on GPU 0 using profile 19: Insufficient Resources",
            "mig-instance-insufficient-resources",
        ),
        (
            "Ignoring visible gpu device (device: 0, name: Tesla K80, compute capability: 3.7) "
            "with Cuda compute capability 3.7. The minimum required Cuda capability is 5.0.",
            "framework-gpu-arch-unsupported",
        ),
        (
            "NVRM: _kgspBootGspRm: unexpected WPR2 already up, cannot proceed with booting GSP",
            "nvrm-init-adapter-failed",
        ),
        (
            "nvidia 0000:01:00.0: probe with driver nvidia failed with error -1",
            "nvidia-probe-failed",
        ),
        (
            "failed to locate libcuda.so: pattern libcuda.so.* not found",
            "nvidia-container-cli-load-library",
        ),
        (
            "Error! Bad return status for module build on kernel: 6.8.0-1-generic (x86_64)",
            "driver-dkms-build-failed",
        ),
        (
            "nvidia-container-runtime: error loading config: toml: line 3: expected key separator",
            "toolkit-runtime-config-not-toml",
        ),
        (
            "preemption: error finding a set of pods to preempt: no set of running pods found "
            "to reclaim resources: [(res: nvidia.com/gpu, q: 1), ]",
            "kubelet-critical-pod-preemption-failed",
        ),
        ("  Error: Could not load NVML library", "libnvidia-ml-not-loadable-on-node"),
    ],
)
def test_vocabulary_names_the_cause_first(text, expected):
    found = explain([Evidence("file", "x", text)]).primary
    assert found is not None and found.signature.id == expected
    assert found.confidence == EXACT


def test_a_generic_probe_failure_gives_way_to_the_nvrm_reason():
    text = (
        "NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n"
        "nvidia 0000:01:00.0: probe with driver nvidia failed with error -1\n"
    )
    assert ids(text)[0] == "nvrm-pci-bar-unavailable"


def test_the_device_plugin_s_own_config_error_stays_its_own():
    # A YAML/flag error of the plugin, not a TOML parser's "(line, column)".
    text = "unable to load config: unable to parse config file: error parsing YAML"
    assert ids(text)[0] == "plugin-config-invalid"


def test_the_plugin_s_nvml_dlerror_is_not_the_bare_nvml_message():
    text = (
        "could not load NVML library: libnvidia-ml.so.1: "
        "cannot open shared object file: No such file or directory"
    )
    assert "libnvidia-ml-not-loadable-on-node" not in ids(text)[:1]
