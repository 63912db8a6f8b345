"""Issue 22, explainer3: families added from the components' source (the scheduler's reasons,
NFD labels, SELinux denials, kernel, validator, framework, NCCL, DRA prepare, the device
plugin's config and sharing, the toolkit's installer). Texts are the format strings filled
with made-up values; none is copied from a report.
"""

from __future__ import annotations

from tests.gpuconform.diagnose.test_explain_catalogue import explained


def first_id(text: str) -> str | None:
    primary = explained(text).primary
    return primary.signature.id if primary else None


def test_a_prefilter_status_without_a_node_count_is_read_as_every_nodes_reason():
    # dynamicresources.go: statusUnschedulable("request %s: device class %s does not exist"),
    # then PostFilter's "no new claims to deallocate" joined before the preemption summary.
    status = "request r1: device class example.com does not exist"
    preemption = "4 Preemption is not helpful for scheduling."
    postfilter = "no new claims to deallocate, preemption: 0/4 nodes are available"
    line = f"0/4 nodes are available: {status}. {postfilter}: {preemption}"
    finding = explained(f"Warning FailedScheduling 5s default-scheduler {line}").primary
    assert (finding.signature.id, "4 node(s)" in finding.signature.diagnosis) == (
        "scheduler-dra-cannot-allocate",
        True,
    )


def test_a_failed_scheduling_event_with_only_its_reasons_is_still_a_fit_error():
    line = (
        "FailedScheduling  1m (x3 over 9m)  default-scheduler  "
        "2 node(s) had untolerated taint {example.com/t: x}"
    )
    text = f"pod-a   0/1   CrashLoopBackOff   4 (10s ago)   9m\n{line}\n"
    assert first_id(text) == "scheduler-untolerated-taint"


def test_an_entry_about_a_missing_label_stands_only_where_the_wanted_label_is_absent():
    class_prefixed = "feature.node.kubernetes.io/pci-0302_10de.present=true\n"
    assert first_id(class_prefixed) == "nfd-gpu-label-format"
    both = class_prefixed + "feature.node.kubernetes.io/pci-10de.present=true\n"
    assert "nfd-gpu-label-format" not in {f.signature.id for f in explained(both).findings}


def test_an_avc_denial_is_about_gpu_devices_only_when_its_target_is_a_device():
    device = (
        'type=AVC msg=audit(1.1:2): avc:  denied  { read write } for pid=9 comm="app" '
        'path="/dev/nvidia0" scontext=system_u:system_r:container_t:s0 '
        "tcontext=system_u:object_r:xserver_misc_device_t:s0 tclass=chr_file permissive=0"
    )
    other = (
        'type=AVC msg=audit(1.1:2): avc:  denied  { execute } for pid=9 comm="nvidia-tool" '
        'path="/usr/bin/x" scontext=a_u:a_r:a_t:s0 tcontext=b_u:b_r:b_t:s0 tclass=file'
    )
    module = (
        'type=AVC msg=audit(1.1:2): avc:  denied  { module_load } for pid=9 comm="modprobe" '
        'path="/lib/modules/k/nvidia.ko" scontext=a_u:a_r:a_t:s0 '
        "tcontext=b_u:b_r:var_lib_t:s0 tclass=system permissive=0"
    )
    assert first_id(device) == "selinux-denied-gpu"
    assert first_id(other) == "selinux-denied"
    assert first_id(module) == "selinux-module-load-denied"


def test_new_component_vocabularies_name_their_cause():
    cases = {
        # nvidia-installer kernel.c
        "ERROR: An NVIDIA kernel module 'nvidia-drm' appears to already be loaded in your "
        "kernel.": "driver-module-already-loaded",
        "ERROR: Unable to load the kernel module 'nvidia.ko'.": (
            "driver-installer-module-load-failed"
        ),
        # NCCL shm.h / shmutils.cc
        "h:1:2 [0] misc/shmutils.cc:1 NCCL WARN Error: failed to extend /dev/shm/nccl-x to 10 "
        "bytes": "pod-shm-too-small",
        "h:1:2 [0] bootstrap.cc:1 NCCL WARN Bootstrap : no socket interface found": (
            "nccl-no-network-interface"
        ),
        # moby oci/devices_linux.go
        "Error response from daemon: error gathering device information while adding custom "
        'device "/dev/nvidia9": no such file or directory': "runc-device-or-mount",
        # coreutils chcon.c
        "chcon: can't apply partial context to unlabeled file '/x'": "selinux-disabled-relabel",
        # resourcequota/controller.go
        "Error creating: insufficient quota to match these scopes: [{PriorityClass In "
        "[system-node-critical]}]": "critical-priority-quota-missing",
        'Error creating: pods "p" is forbidden: exceeded quota: q, requested: '
        "requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=1, limited: "
        "requests.nvidia.com/gpu=2": "resource-quota-refused",
    }
    assert {text: first_id(text) for text in cases} == cases


def test_kernel_validator_and_framework_words_name_their_cause():
    cases = {
        # open-gpu-kernel-modules nv-pci.c / nv.c
        "NVRM: The NVIDIA GPU 0000:01:00.0 (PCI ID: 10de:1234)\nNVRM: installed in this system "
        "requires use of the NVIDIA open kernel modules.": "nvrm-gpu-not-supported-by-driver",
        "NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:884)": "nvrm-init-adapter-failed",
        "NVRM: API mismatch: the client has the version 550.1, but": (
            "driver-library-version-mismatch"
        ),
        # linux kernel/module/main.c, kmod
        "nvidia: Unknown symbol drm_gem_object_free (err -2)": (
            "kernel-module-built-for-another-kernel"
        ),
        "modprobe: ERROR: could not insert 'nvidia': Key was rejected by service": (
            "secure-boot-module-rejected"
        ),
        # gpu-operator cmd/nvidia-validator/main.go
        'time=x level=info msg="GPU resources are not discovered by the node"': (
            "operator-plugin-validation-failed"
        ),
        "toolkit is not ready": "operator-toolkit-validation-failed",
        # pytorch c10/cuda/CUDAFunctions.cpp
        "RuntimeError: Found no NVIDIA driver on your system. Please check": (
            "container-has-no-driver"
        ),
        "RuntimeError: The NVIDIA driver on your system is too old (found version 11040).": (
            "cuda-newer-than-driver"
        ),
        # crun's hook error (crun src/libcrun/container.c)
        "Error: container create failed: error executing hook `/usr/bin/hook` (exit code: 1)": (
            "oci-hook-failed"
        ),
    }
    assert {text: first_id(text) for text in cases} == cases


def test_more_component_words_name_their_cause():
    cases = {
        # cri-o internal/oci/oci.go
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to find runtime "
        "handler kata from runtime list map[runc:0x1]": "containerd-no-runtime-handler",
        # nvidia-smi's device handle with NVML's Unknown Error
        "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error": (
            "nvidia-smi-device-handle-unknown"
        ),
        # NGC/CUDA images' entrypoint
        "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.": (
            "container-has-no-driver"
        ),
        # torch/cuda/__init__.py
        "NVIDIA X with CUDA capability sm_120 is not compatible with the current PyTorch "
        "installation.": "framework-gpu-arch-unsupported",
        "Cannot re-initialize CUDA in forked subprocess.": "cuda-in-forked-subprocess",
        # nccl net_ib.cc
        "h:1:2 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : Got completion from peer 10.0.0.2<1> "
        "with error 12, opcode 0, len 0, vendor err 129": "nccl-network-error",
    }
    assert {text: first_id(text) for text in cases} == cases


def test_informational_nccl_and_driver_lines_raise_no_error():
    text = (
        "h:1:1 [0] NCCL INFO NET/IB : No device found.\n"
        "h:1:1 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.1<0>\n"
        "nvidia: module verification failed: signature and/or required key missing - tainting "
        "kernel\n"
        "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
    )
    assert [f.signature.id for f in explained(text).causes if f.signature.severity == "error"] == []


def test_a_dra_prepare_error_is_explained_by_its_innermost_link():
    # k8s-dra-driver-gpu driver.go wraps device_state.go's error.
    chain = (
        "error preparing devices for claim default/c-1: prepare devices failed: error applying "
        'config: cannot apply GpuConfig to device "gpu-0-mig-1" of type "mig" (request: r)'
    )
    assert first_id(chain) == "dra-claim-config-invalid"
    assert first_id("E1 driver.go:1] error preparing devices for claim default/c-1: x") == (
        "dra-prepare-failed"
    )
    cdi = "Error: CDI container edits did not apply -- is CDI enabled in your container runtime?"
    assert first_id(cdi) == "dra-cdi-not-enabled"


def test_the_device_plugins_config_and_sharing_words_name_their_cause():
    # k8s-device-plugin api/config/v1, internal/imex, internal/lm, cmd/mps-control-daemon
    cases = {
        "unable to load config: invalid sharing config: number of replicas must be >= 2": (
            "plugin-config-invalid"
        ),
        "E1 main.go:1] error starting plugins: invalid MPS configuration: sharing using MPS is "
        "not supported for MIG devices": "plugin-sharing-config-invalid",
        "E1 main.go:1] requested IMEX channel 3 does not exist": "plugin-imex-channel",
        "W1 mig-strategy.go:1] Invalid configuration detected for mig-strategy=single: x": (
            "mig-strategy-mismatch"
        ),
        "E1 daemon.go:1] failed to send command to MPS daemon: broken pipe": "mps-daemon-failure",
    }
    assert {text: first_id(text) for text in cases} == cases


def test_the_toolkit_installers_words_name_their_cause():
    # nvidia-container-toolkit cmd/nvidia-ctk-installer, internal/ldconfig
    cases = {
        'level=warning msg="Error signaling containerd, attempt 1/6: dial unix '
        '/run/containerd/containerd.sock: connect: no such file or directory"': (
            "toolkit-runtime-reconfigure-failed"
        ),
        "error reading host ldconfig: open /sbin/ldconfig.real: no such file": "ldcache-error",
    }
    assert {text: first_id(text) for text in cases} == cases
