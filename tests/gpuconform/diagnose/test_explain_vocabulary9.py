"""Issue 22, ninth round: the vocabularies behind held-out-8's misses - libnvidia-container's
driver service failing, Docker's image-platform warning before a hook error, NVML's text in a
quoted line, a RuntimeClass API version Kubernetes no longer serves, a containerd runtime
without runtime_type, the loader's glibc version refusal, PCIe ACS under GPUDirect RDMA, the
GSP firmware, DCGM's profiling module, libnvidia-container's ldconfig sandbox, dcgm-exporter
away from its GPUs, the toolkit's device-node majors, nvidia-smi off the host's PATH,
nvidia-installer's stale module file and an unlicensed vGPU.

Texts are built from the components' format strings (each catalogue entry's source names
the file they come from), not copied from a report.
"""

from __future__ import annotations

import pytest

from tests.gpuconform.diagnose.test_explain_vocabulary7 import explanation, first

HOOK = "nvidia-container-cli: initialization error: driver {}error: failed to process request"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # libnvidia-container before and after its driver service became an RPC service.
        (HOOK.format(""), "nvidia-smi-cannot-reach-driver"),
        (HOOK.format("rpc "), "nvidia-smi-cannot-reach-driver"),
        # The same hook error after Docker's warning that the image is another platform's.
        (
            "WARNING: The requested image's platform (linux/arm64) does not match the detected "
            "host platform (linux/amd64) and no specific platform was requested\n"
            + HOOK.format("rpc "),
            "image-wrong-cpu-architecture",
        ),
        # nvidia-smi's NVML failure quoted in a report: the permission, not the wrapper.
        ("'Failed to initialize NVML: Insufficient Permissions'", "nvml-no-permission"),
        ("nvml init failed: Insufficient Permissions", "nvml-no-permission"),
        (
            'error: unable to recognize "rc.yaml": no matches for kind "RuntimeClass" in '
            'version "node.k8s.io/v1alpha1"',
            "runtimeclass-api-removed",
        ),
        (
            "failed to create containerd container: create container failed validation: "
            "container.Runtime.Name must be set: invalid argument",
            "containerd-runtime-type-missing",
        ),
        (
            "nvidia-smi: /lib64/libc.so.6: version `GLIBC_2.34' not found "
            "(required by /usr/lib64/libnvidia-ml.so.1)",
            "binary-needs-newer-glibc",
        ),
        # NCCL's three formats of an IB completion error: status 4 (IBV_WC_LOC_PROT_ERR).
        (
            "h:1:2 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : Got completion from peer "
            "10.0.0.2<1234> with error 4, opcode 0, len 0, vendor err 81 (Send)",
            "pcie-acs-blocks-gpudirect-rdma",
        ),
        (
            "h:1:2 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : Got completion from peer "
            "10.0.0.2<1234> with status=4 opcode=0 len=0 vendor err 81 (Send)",
            "pcie-acs-blocks-gpudirect-rdma",
        ),
        (
            "h:1:2 [0] transport/net_ib.cc:1 NCCL WARN NET/IB: Got completion from peer "
            "10.0.0.2<1234> with status=local protection error(4) opcode=SEND(0) "
            "vendor_err=81 hca mlx5_0",
            "pcie-acs-blocks-gpudirect-rdma",
        ),
        (
            "NVRM: Xid (PCI:0000:01:00): 119, pid=9, name=python, Timeout after 6s of waiting "
            "for RPC response from GPU0 GSP! Expected function 76 (GSP_RM_CONTROL)",
            "gsp-firmware-error",
        ),
        ("NVRM: RmFetchGspRmImages: No firmware image found", "gsp-firmware-error"),
        (
            "level=error msg=\"DCGM collector for entity type 'GPU' cannot be initialized; err: "
            "error watching fields: The third-party Profiling module returned an "
            'unrecoverable error"',
            "dcgm-profiling-module-error",
        ),
        (
            'level=fatal msg="Error getting device cpu affinity: open '
            '/sys/bus/pci/devices/0000:3b:00.0/local_cpulist: no such file or directory"',
            "dcgm-exporter-gpu-not-local",
        ),
        (
            "Command 'nvidia-smi' not found, but can be installed with:\n"
            "sudo apt install nvidia-utils-535",
            "nvidia-smi-not-on-host",
        ),
        (
            "ERROR: The file '/lib/modules/6.8.0-45-generic/kernel/drivers/video/nvidia-uvm.ko' "
            "already exists as part of this driver installation.",
            "driver-installer-module-file-exists",
        ),
        (
            "nvidia-gridd: Valid GRID license not found. GPU features and performance will be "
            "restricted. To enable full functionality please configure licensing details.",
            "vgpu-unlicensed",
        ),
        ("    License Status                    : Unlicensed (Restricted)", "vgpu-unlicensed"),
        (
            'level=info msg="Error: error validating driver installation: error creating symlink '
            "creator: failed to create NVIDIA device nodes: failed to create device node "
            'nvidia-uvm: failed to determine major: invalid device node"',
            "toolkit-device-major-not-found",
        ),
        # libnvidia-container's ldconfig child failing in its sandbox (exit 1), and its debug line.
        (
            "stderr: nvidia-container-cli: ldcache error: process /sbin/ldconfig.real failed "
            "with error code: 1",
            "ldcache-sandbox-setup-failed",
        ),
        (
            "E0101 00:00:00.000001 12 nvc_ldcache.c:370] could not start /sbin/ldconfig: "
            "syscall limiting failed",
            "ldcache-sandbox-setup-failed",
        ),
    ],
)
def test_component_vocabulary(text, expected):
    assert first(text) == expected


def test_ldconfig_exiting_with_another_code_is_the_configured_path():
    # 127: the configured ldconfig could not be executed (the training corpus' ldcache case).
    text = "nvidia-container-cli: ldcache error: process /sbin/ldconfig failed with error code: 127"
    assert first(text) == "ldcache-error"


def test_another_kind_in_a_removed_version_is_not_the_runtimeclass():
    text = 'no matches for kind "PodSecurityPolicy" in version "policy/v1beta1"'
    assert first(text) != "runtimeclass-api-removed"


def test_another_ib_completion_status_stays_a_network_error():
    # Status 12 is a transport retry timeout: the network, not ACS.
    text = (
        "NCCL WARN NET/IB : Got completion from peer 10.0.0.2<1> with error 12, opcode 0, "
        "len 0, vendor err 129"
    )
    assert first(text) == "nccl-network-error"


def test_the_permission_finding_keeps_the_wrapper_as_its_consequence():
    causes = [
        f.signature.id for f in explanation("`nvml init failed: Insufficient Permissions`").causes
    ]
    assert causes[:2] == ["nvml-no-permission", "plugin-nvml-init-failed"]


def test_a_licence_acquired_after_the_start_message_is_no_fault():
    log = (
        "nvidia-gridd: Valid GRID license not found. GPU features and performance will be "
        "restricted. To enable full functionality please configure licensing details.\n"
        "nvidia-gridd: License acquired successfully. "
        "(Info: license.example.com; NVIDIA-vComputeServer,9.0)"
    )
    assert first(log) != "vgpu-unlicensed"
