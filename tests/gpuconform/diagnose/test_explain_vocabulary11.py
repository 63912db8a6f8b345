"""Issue 22, eleventh round: the general readings behind held-out-10's misses and silent cases -
NVIDIA Fabric Manager's own driver version check and its NVLink5+ start script refusing bare
paths, UCX's shared-memory transport failing its receive FIFO (a small /dev/shm), with
component markers for Fabric Manager and UCX; config-manager over a dangling config link; the
RHEL 10 driver image's DTK entrypoint copying an aarch64-only unzboot; urfave/cli's flag value
parse error; NFD's structured refusal of a GFD label value; a pasted message wrapped after a
space; CUDA's requirement error ranked before the hook wrapper that carries it.

Texts are built from the components' format strings (each entry's source names the file
they come from), not copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.model import LAYER_ONLY
from tests.gpuconform.diagnose.test_explain_vocabulary7 import explanation, first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # nv-fabricmanager's checkGpuDriverVersionCompatibility, as journald shows it.
        (
            "Jan 01 00:00:00 gpu-1 nv-fabricmanager[4242]: fabric manager NVIDIA GPU driver "
            "interface version 570.86.15 don't match with driver version 570.124.06. Please "
            "update with matching NVIDIA driver package.",
            "fabric-manager-not-ready",
        ),
        # nvidia-fabricmanager-start.sh given the driver container's old bare paths (21abd7c).
        (
            "Starting NVIDIA fabric manager daemon for NVLink5+...\n"
            "Unknown option: /var/run/nvidia-fabricmanager/nv-fabricmanager.pid",
            "fabric-manager-start-script-args",
        ),
        # UCX's mm_iface.c and mm_posix.c under the runtime's default /dev/shm.
        (
            "[1700000000.000000] [train-0:42   :0]     mm_iface.c:817  UCX  ERROR mm_iface "
            "failed to allocate receive FIFO",
            "pod-shm-too-small",
        ),
        (
            "[1700000000.000000] [train-0:42   :0]    mm_posix.c:206  UCX  ERROR Not enough "
            "memory to write total of 4194304 bytes. Please check that /dev/shm or the "
            "directory you specified has more available memory.",
            "pod-shm-too-small",
        ),
        # urfave/cli v2's IntFlag.Apply for an environment variable's value.
        (
            'level=fatal msg="could not parse \\"0.0.0.0:9400\\" as int value for flag '
            'address: strconv.ParseInt: parsing \\"0.0.0.0:9400\\": invalid syntax"',
            "component-flag-unknown",
        ),
        # urfave/cli v1 (%s, not %q).
        (
            "could not parse yes as bool value for flag fail-on-init-error: "
            'strconv.ParseBool: parsing "yes": invalid syntax',
            "component-flag-unknown",
        ),
        # nfd-worker's klog.InfoS("ignoring label with invalid value", ...) for a GFD label.
        (
            'I0101 00:00:00.000000 1 nfd-worker.go:600] "ignoring label with invalid value" '
            'labelKey="nvidia.com/gpu.product" labelValue="NVIDIA A100 (PCIe)" errors=["a valid '
            'label must be an empty string"]',
            "gfd-label-value-invalid",
        ),
        # CRI-O's ValidateRuntimeHandler pasted as prose: broken after "from ".
        (
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to find "
            "runtime handler nvidia from \nruntime list map[crun:0xc000 runc:0xc001]",
            "crio-runtime-handler-missing",
        ),
        # config-manager's updateSymlink over a link whose target config was removed.
        (
            'config-manager time="2024-01-01T00:00:00Z" level=info msg="Error: error creating '
            'symlink: symlink /available-configs/a100-mig /config/config.yaml: file exists"',
            "config-manager-dangling-symlink",
        ),
        # The RHEL 10 driver image's ocp_dtk_entrypoint copying unzboot on x86_64.
        (
            "+ cp -r /tmp/install.sh /usr/local/bin/ocp_dtk_entrypoint /usr/bin/unzboot /drivers "
            "/mnt/shared-nvidia-driver-toolkit/\ncp: cannot stat '/usr/bin/unzboot': No such file "
            "or directory",
            "driver-dtk-unzboot-missing",
        ),
        # runc's hook wrapper with nvidia-container-cli's requirement error on its own line.
        (
            "Error: failed to create containerd task: failed to create shim task: OCI runtime "
            "create failed: runc create failed: unable to start container process: error during "
            "container init: error running hook #0: error running hook: exit status 1, stdout: , "
            "stderr: Auto-detected mode as 'legacy'\n"
            "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please "
            "update your driver to a newer version, or use an earlier cuda container: unknown",
            "cuda-newer-than-driver",
        ),
    ],
)
def test_the_components_own_message_names_the_cause(text, expected):
    assert first(text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "layer"),
    [
        # A Fabric Manager error line no exact entry reads.
        (
            "nv-fabricmanager[101]: NVSwitch 0 link training timed out",
            "layer-fabric-manager",
            "driver",
        ),
        # UCX's error-signal handler (ucs/debug/debug.c) with nothing before it.
        (
            "[train-0:42   :0:42] Caught signal 11 (Segmentation fault: address not mapped to "
            "object at address 0x10)",
            "layer-ucx",
            "workload",
        ),
        (
            "[1700000000.000000] [train-0:42   :0]   ucp_worker.c:1783 UCX  ERROR failed to "
            "create iface",
            "layer-ucx",
            "workload",
        ),
    ],
)
def test_general_component_markers(text, expected, layer):
    primary = explanation(text).primary
    assert primary is not None
    assert (primary.signature.id, primary.signature.layer) == (expected, layer)
    assert primary.confidence == LAYER_ONLY


def test_a_matching_fabric_manager_is_no_mismatch():
    # The whitelisted-version notice: Fabric Manager goes on.
    text = (
        "fabric manager NVIDIA GPU driver interface version is 570.86.15 and driver version is "
        "570.124.06. Continuing as the driver version is whitelisted for compatibility"
    )
    assert first(text) != "fabric-manager-not-ready"


def test_another_scripts_unknown_option_is_not_fabric_managers():
    assert first("Unknown option: --verbose") != "fabric-manager-start-script-args"
    assert first("Unknown option: /etc/myapp/app.cfg") != "fabric-manager-start-script-args"


def test_a_ucx_fifo_of_another_kind_is_no_small_shm():
    text = "UCX  ERROR ud_iface failed to allocate receive buffers"
    assert first(text) != "pod-shm-too-small"


def test_a_value_parsed_elsewhere_is_no_flag_mismatch():
    text = 'could not parse "abc" as int value for field replicas'
    assert first(text) != "component-flag-unknown"


def test_another_namespaces_invalid_label_value_is_not_gfds():
    text = (
        '"ignoring label with invalid value" labelKey="feature.node.kubernetes.io/x" '
        'labelValue="a/b"'
    )
    assert first(text) != "gfd-label-value-invalid"


def test_a_log_line_ending_in_a_full_stop_does_not_run_on():
    # Two log lines, the first ending a sentence: no joined message reads across them.
    text = "failed to find runtime handler nvidia. \nruntime list map[runc:0xc001]"
    assert first(text) not in {"crio-runtime-handler-missing", "containerd-no-runtime-handler"}


def test_another_symlink_collision_is_not_config_managers_dangling_link():
    text = "error creating symlink: symlink /a /b: permission denied"
    assert first(text) != "config-manager-dangling-symlink"


def test_another_missing_file_in_the_driver_container_is_not_unzboot():
    text = "cp: cannot stat '/usr/local/bin/vgpu-util': No such file or directory"
    assert first(text) != "driver-dtk-unzboot-missing"
