"""Issue 22, sixth round: an entry whose cause produces a curated signature's words on the
same line (`explains`) is no longer hidden by that signature and ranks before it; and the
widened vocabularies - containerd and toolkit config versions, nvidia-ctk writing defaults,
admission webhooks, cluster-autoscaler's scale-up refusal, driver images per OS, modpost's
GPL-only symbol, config fields whose type changed, crun's NVIDIA hook, a workload that exits
under restartPolicy Always, the DRA controller's and Kubernetes' GPU e2e lines.

Texts are built from the components' format strings (each catalogue entry's source says
which file); none is copied from a report.
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.model import EXACT, Signature
from gpuconform.diagnose.structured import Hit, superseded_removed


def causes(text: str) -> list[str]:
    return [f.signature.id for f in explain([Evidence("file", "x", text)]).causes]


def _hit(sig_id: str, catalogued: bool, explains: tuple[str, ...] = ()) -> Hit:
    sig = Signature(sig_id, "device-plugin", "error", (), "", "", "", explains=explains)
    return Hit(sig, (0,), catalogued=catalogued)


def test_a_curated_signature_hides_a_catalogue_entry_on_its_line():
    kept = superseded_removed([_hit("curated", False), _hit("entry", True)])
    assert [h.signature.id for h in kept] == ["curated"]


def test_an_entry_that_explains_the_curated_signature_stays():
    kept = superseded_removed([_hit("curated", False), _hit("entry", True, ("curated",))])
    assert {h.signature.id for h in kept} == {"curated", "entry"}


def test_only_the_explaining_entry_stays_not_every_entry_on_the_line():
    hits = [_hit("curated", False), _hit("entry", True, ("curated",)), _hit("other", True)]
    assert {h.signature.id for h in superseded_removed(hits)} == {"curated", "entry"}


@pytest.mark.parametrize(
    ("text", "first", "after"),
    [
        # the plugin's "unable to load config:" prefix is the toolkit's too
        (
            'level=fatal msg="Error: unable to load config: unsupported config version: 3"',
            "toolkit-containerd-config-version-unsupported",
            "plugin-config-invalid",
        ),
        (
            "unable to load config: unable to parse config file: json: cannot unmarshal array "
            "into Go struct field PluginCommandLineFlags.flags.plugin.deviceListStrategy "
            "of type string",
            "plugin-config-field-type-mismatch",
            "plugin-config-invalid",
        ),
        (
            'Failed to pull image "nvcr.io/nvidia/driver:570.86.15-rocky8": rpc error: code = '
            "NotFound desc = nvcr.io/nvidia/driver:570.86.15-rocky8: not found",
            "driver-image-not-published-for-os",
            "image-pull-failed",
        ),
        (
            "Normal NotTriggerScaleUp cluster-autoscaler pod didn't trigger scale-up (it "
            "wouldn't fit if a new node is added): 1 Insufficient nvidia.com/gpu",
            "autoscaler-no-group-fits-gpu",
            "insufficient-gpu",
        ),
        (
            'msg="CreateContainer failed: failed to find runtime handler nvidia from runtime '
            'list map[crun:0xc0 runc:0xc0]"',
            "crio-runtime-handler-missing",
            "runtimeclass-nvidia-missing",
        ),
        (
            "Could not unload NVIDIA driver kernel modules, driver is in use\n"
            "Unable to cleanup driver modules, attempting again with node drain...\n"
            "failed to drain node: cannot evict pod (disruption budget)",
            "driver-manager-drain-failed",
            "driver-module-already-loaded",
        ),
    ],
)
def test_a_cause_ranks_before_the_signature_it_explains(text, first, after):
    found = causes(text)
    assert found[0] == first
    assert after in found[1:]


@pytest.mark.parametrize(
    ("text", "entry", "words"),
    [
        (
            "containerd: drop-in config version 3 higher than root config version 2",
            "containerd-dropin-version-higher",
            ["version 3", "version 2"],
        ),
        (
            "WARN[0000] could not infer options from runtimes [runc crun]; using defaults",
            "nvidia-ctk-containerd-options-defaults",
            ["runc crun"],
        ),
        (
            'Error from server (Forbidden): admission webhook "validate.kyverno.svc-fail" '
            "denied the request: require-limits: memory limit is required",
            "admission-webhook-denied",
            ["validate.kyverno.svc-fail", "memory limit is required"],
        ),
        (
            "ERROR: modpost: GPL-incompatible module nvidia.ko uses GPL-only symbol 'foo_bar'",
            "driver-dkms-build-failed",
            ["nvidia"],
        ),
        (
            'Error: OCI runtime error: crun: {"msg":"error executing hook '
            '`/usr/bin/nvidia-cdi-hook` (exit code: 2)","level":"error"}',
            "crun-nvidia-hook-failed",
            ["/usr/bin/nvidia-cdi-hook", "code 2"],
        ),
        (
            "NAME       READY   STATUS             RESTARTS   AGE\n"
            "vector-add 0/1     CrashLoopBackOff   3          2m",
            "workload-container-restarting",
            ["vector-add"],
        ),
        (
            'I1201 10:00:00.000000 1 nvidia-gpus.go:95] Nvidia GPUs not available on Node: "n1"',
            "e2e-node-without-gpu-capacity",
            ["n1"],
        ),
        (
            "containerd: failed to load TOML from /etc/containerd/config.toml: failed to "
            "unmarshal TOML at row 12 column 3: toml: table nvidia already exists",
            "containerd-config-toml-invalid",
            ["cannot parse its config file"],
        ),
        (
            'level=warning msg="Ignoring unknown key in TOML" file=/etc/containerd/config.toml '
            'key="plugins io.containerd.grpc.v1.cri containerd runtimes nvidia" row=40',
            "containerd-config-key-ignored",
            ["plugins io.containerd.grpc.v1.cri containerd runtimes nvidia"],
        ),
        (
            "standard_init_linux.go:228: exec user process caused: exec format error",
            "image-wrong-cpu-architecture",
            ["architecture"],
        ),
        (
            'error: resource mapping not found for name: "gpu.nvidia.com" namespace: "": no '
            'matches for kind "DeviceClass" in version "resource.k8s.io/v1beta1"',
            "dra-api-version-not-served",
            ["DeviceClass", "resource.k8s.io/v1beta1"],
        ),
        (
            'Could not schedule pod, incompatible with nodepool "gpu", no instance type '
            'satisfied resources {"cpu":"310m","nvidia.com/gpu":"1"} and requirements x In [y]',
            "karpenter-no-gpu-instance-type",
            ['"nvidia.com/gpu":"1"'],
        ),
    ],
)
def test_the_component_wording_names_its_cause(text, entry, words):
    primary = explain([Evidence("file", "x", text)]).primary
    assert primary.signature.id == entry and primary.confidence == EXACT
    for word in words:
        assert word in primary.cause


def test_a_gpu_components_crash_loop_stays_the_plugins():
    text = "nvidia-device-plugin-daemonset-x2k   0/1   CrashLoopBackOff   5   3m"
    assert causes(text)[0] == "plugin-crash-loop"


def test_the_dra_controllers_claim_lines_name_the_dra_layer():
    text = 'E1201 controller.go:658] "resource controller: failed" key="schedulingCtx:ns/p"'
    primary = explain([Evidence("file", "x", text)]).primary
    assert primary.signature.id == "layer-dra-driver"


@pytest.mark.parametrize(
    ("text", "layer_id"),
    [
        ("Labels: cloud.google.com/gke-accelerator=nvidia-tesla-t4\nCapacity:\n cpu: 16", None),
        ("cos-gpu-installer: starting\n", None),
        ("kyverno: policy require-limits applied to pod train-job\n", "layer-policy-admission"),
    ],
)
def test_cloud_installers_and_policy_engines_are_never_silent(text, layer_id):
    primary = explain([Evidence("file", "x", text)]).primary
    assert primary is not None
    assert primary.signature.id == (layer_id or "layer-cloud-driver-installer")
