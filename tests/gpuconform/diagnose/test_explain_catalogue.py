"""The explainer with the catalogue: parsed structure, ranking, confidence, never silent.

Texts are built from the components' format strings (the catalogue entry's source says
which file); none is copied from a report.

Over 400 lines: one behaviour of the explainer per test across every catalogue file, and each
round of component vocabularies (issue 22) adds to it; it splits by catalogue file when the
tests move to mirror the packages (issue 18, item 7).
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


# Issue 22, explainer3: families added from the components' source. Texts are the format
# strings filled with made-up values.


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


# The DRA driver's messages (issue 19), built from their format strings.
PRESTART_ROOT = "/run/nvidia/driver"


def test_the_dra_init_containers_driver_check_names_the_driver_root():
    # hack/kubelet-plugin-prestart.sh v25.12.0: the per-attempt line, then emit_common_err.
    text = (
        f"2026-12-01T04:00:00Z  /driver-root ({PRESTART_ROOT} on host): nvidia-smi: not found, "
        "libnvidia-ml.so.1: not found, current contents: [lib].\n\n"
        "Check failed. Has the NVIDIA GPU driver been set up? It is expected to be installed "
        f"under NVIDIA_DRIVER_ROOT (currently set to '{PRESTART_ROOT}') in the host filesystem.\n"
    )
    primary = explained(text).primary
    assert primary.signature.id == "dra-driver-root-check-failed"
    assert f"({PRESTART_ROOT} on the host)" in primary.signature.diagnosis
    assert "nvidiaDriverRoot" in primary.signature.remediation


def test_a_healthy_driver_check_line_is_no_failure():
    # The same script on a working node: both files found, nvidia-smi exits 0.
    text = (
        "2026-12-01T04:00:00Z  /driver-root (/ on host): nvidia-smi: '/driver-root/usr/bin/"
        "nvidia-smi', libnvidia-ml.so.1: '/driver-root/usr/lib64/libnvidia-ml.so.1', current "
        "contents: [bin lib64 usr].\nnvidia-smi returned with code 0: success, leave\n"
    )
    assert "dra-driver-root-check-failed" not in [f.signature.id for f in explained(text).findings]


def test_a_device_still_prepared_for_another_claim_names_both():
    # cmd/gpu-kubelet-plugin/device_state.go: "requested device %s is already allocated to
    # different claim %s", wrapped by driver.go's "error preparing devices for claim %s: %w".
    text = (
        "  Warning  FailedPrepareDynamicResources  3s  kubelet  Failed to prepare dynamic "
        "resources: NodePrepareResources failed for ResourceClaim gpu-b: error preparing devices "
        "for claim 6a1f: prepare devices failed: requested device gpu-3 is already allocated to "
        "different claim 0c9e\n"
    )
    primary = explained(text).primary
    assert primary.signature.id == "dra-device-prepared-for-other-claim"
    assert (
        "GPU gpu-3" in primary.signature.diagnosis and "claim 0c9e" in primary.signature.diagnosis
    )


def test_an_unresolvable_dra_cdi_device_is_the_dra_drivers_not_the_device_plugins():
    dra_line = (
        "CDI device injection failed: unresolvable CDI devices k8s.gpu.nvidia.com/claim=1-gpu-0"
    )
    plugin_line = "CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all"
    assert explained(dra_line).primary.signature.id == "dra-cdi-device-unresolvable"
    assert explained(plugin_line).primary.signature.id == "cdi-device-unresolvable"


def test_a_gpu_seen_without_a_request_names_the_toolkit_and_plugin_settings():
    # The suite's own failure (suites/test_40_scheduling.py).
    text = (
        "a pod without an nvidia.com/gpu request saw GPUs ['GPU-1'] - the NVIDIA runtime "
        "exposes devices outside the scheduler"
    )
    primary = explained(text, source="failure").primary
    assert primary.signature.id == "gpu-visible-without-request"
    fix = primary.signature.remediation
    assert "accept-nvidia-visible-devices-envvar-when-unprivileged = false" in fix
    assert "deviceListStrategy cdi-cri" in fix and "volume-mounts" in fix


def test_the_dra_plugins_pcie_root_warning_is_no_cause():
    # A healthy node's gpu-kubelet-plugin log (simulated GPUs have no /sys/bus/pci link).
    text = (
        "W1201 04:19:47.412978       1 nvlib.go:491] error getting PCIe root for device 0, "
        "continuing without attribute: failed to resolve PCIe Root Complex for PCI Bus ID "
        "0000:1a:00.0\n"
    )
    explanation = explained(text, source="plugin-log")
    assert explanation.primary is None
    assert [f.signature.id for f in explanation.findings] == ["dra-pcie-root-unavailable"]


def test_a_node_without_resourceslices_is_named_and_ranked_after_its_cause():
    # The dra step's own finding (gpuconform/dra_checks.py), then the plugin's init container.
    failure = (
        "DRA not ready: gpu-dra-broken-0: no Ready DRA kubelet plugin (init container "
        "init-container still running: its driver check has not passed); gpu-dra-broken-0: "
        "publishes no ResourceSlice (fix: see the kubelet plugin's log)\n"
    )
    alone = explained(failure, source="failure").primary
    assert alone.signature.id == "dra-no-resourceslice"
    assert "gpu-dra-broken-0" in alone.cause and "init-container" in alone.signature.remediation
    init_log = (
        "Check failed. Has the NVIDIA GPU driver been set up? It is expected to be installed "
        "under NVIDIA_DRIVER_ROOT (currently set to '/') in the host filesystem.\n"
    )
    both = explain([Evidence("failure", "check", failure), Evidence("plugin-log", "p", init_log)])
    assert [f.signature.id for f in both.causes] == [
        "dra-driver-root-check-failed",
        "dra-no-resourceslice",
    ]
