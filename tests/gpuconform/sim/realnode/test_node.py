"""The real nodes' rendered configuration (no node started)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from gpuconform.sim.faults import load_faults
from gpuconform.sim.realnode.node import CDI_DIRS, _render, filesystem_type


def _containerd(cdi_dirs: list[str] = CDI_DIRS) -> dict:
    return tomllib.loads(
        _render(
            "containerd.toml",
            bin="/b",
            default_runtime="nvidia",
            snapshotter="overlayfs",
            cdi_spec_dirs=json.dumps(cdi_dirs),
        )
    )


def test_containerd_runs_nvidia_in_cdi_mode_by_default_with_a_restricted_oom_score():
    config = _containerd()
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["enable_cdi"] is True
    assert runtime["cdi_spec_dirs"] == ["/etc/cdi", "/var/run/cdi"]
    assert runtime["restrict_oom_score_adj"] is True
    runtimes = runtime["containerd"]["runtimes"]
    assert runtime["containerd"]["default_runtime_name"] == "nvidia"
    assert runtimes["nvidia"]["options"]["BinaryName"] == "/b/nvidia-container-runtime"
    assert runtimes["runc"]["options"]["BinaryName"] == "/b/runc"
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"


def test_the_runtime_is_in_cdi_mode_and_its_envvar_setting_follows_the_node_group():
    for accept in ("true", "false"):
        config = tomllib.loads(
            _render("nvidia-container-runtime.toml", bin="/b", accept_envvar=accept)
        )
        assert config["nvidia-container-runtime"]["mode"] == "cdi"
        assert config["accept-nvidia-visible-devices-envvar-when-unprivileged"] is (
            accept == "true"
        )


def test_filesystem_type_is_the_innermost_mount():
    assert filesystem_type(Path("/proc/self")) == "proc"
    assert filesystem_type(Path("/")) not in ("", "proc")


def test_the_cluster_dns_is_kubeadms_coredns_at_the_kubelets_cluster_dns_address():
    import ipaddress

    import yaml

    from gpuconform.sim import node_images, toolchain
    from gpuconform.sim.realnode import dns, network

    objects = {obj["kind"]: obj for obj in dns.manifests()}
    service = objects["Service"]["spec"]
    kubelet = yaml.safe_load(
        _render(
            "kubelet.yaml",
            cgroup_root="/r",
            node_ip="10.250.0.10",
            taints="[]",
            cluster_dns=network.CLUSTER_DNS_IP,
            cluster_domain=dns.CLUSTER_DOMAIN,
        )
    )
    assert kubelet["clusterDNS"] == [service["clusterIP"]]
    assert ipaddress.ip_address(service["clusterIP"]) in ipaddress.ip_network(network.SERVICE_CIDR)
    assert service["clusterIP"] != network.KUBERNETES_SERVICE_IP
    # The image the Deployment names is built (images.yaml) from the binary of its tag.
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == dns.IMAGE
    assert node_images.load_images()[dns.IMAGE]["files"] == {"/coredns": "image-tool:coredns"}
    (coredns,) = [
        c for c in toolchain.load_components(toolchain.IMAGE_TOOLCHAIN_FILE) if c.name == "coredns"
    ]
    assert dns.IMAGE.endswith(f":{coredns.version}")
    corefile = objects["ConfigMap"]["data"]["Corefile"]
    assert f"kubernetes {kubelet['clusterDomain']} in-addr.arpa ip6.arpa" in corefile
    assert "forward" not in corefile  # no upstream to forward to here


def test_the_cdi_dirs_fault_narrows_containerds_cdi_spec_dirs():
    dirs = load_faults()["cdi-dirs-etc-only"]["cdi_spec_dirs"]
    runtime = _containerd(dirs)["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["cdi_spec_dirs"] == ["/etc/cdi"]
