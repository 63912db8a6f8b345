"""Cluster DNS for a simulated cluster with real nodes: the real CoreDNS, as kubeadm deploys it.

``create`` sends the objects of ``templates/coredns.yaml`` (CoreDNS v1.12.1 from the image
toolchain, imported into every real node under kubeadm v1.34.4's reference) to the API server
right after the control plane is up, so the scheduler places the pod as soon as a real node is
Ready; ``wait_ready`` then waits, through the one wait primitive, for the Deployment to be
Ready. Each real kubelet names the Service's address as its ``clusterDNS`` (kubelet.yaml).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any

import yaml

from gpuconform.sim.realnode import network

MANIFESTS = Path(__file__).parent / "templates" / "coredns.yaml"
# kubeadm v1.34.4 (cmd/kubeadm/app/constants: CoreDNSVersion, images.GetDNSImage); images.yaml
# builds this reference and image_toolchain.yaml the binary at the same version.
IMAGE = "registry.k8s.io/coredns/coredns:v1.12.1"
NAMESPACE = "kube-system"
DEPLOYMENT = "coredns"
CLUSTER_DOMAIN = "cluster.local"


def manifests() -> list[dict[str, Any]]:
    """The CoreDNS objects, rendered for this cluster's service network."""
    text = Template(MANIFESTS.read_text()).substitute(
        dns_ip=network.CLUSTER_DNS_IP, domain=CLUSTER_DOMAIN, image=IMAGE
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def coredns_version() -> str:
    """`CoreDNS 1.12.1`: what the binary the nodes' CoreDNS image carries says it is."""
    from gpuconform.sim.toolchain import require_image_binary

    binary = require_image_binary("coredns", log=lambda line: None)
    proc = subprocess.run([str(binary), "-version"], capture_output=True, text=True)
    first = (proc.stdout or proc.stderr).strip().splitlines()[:1]
    # `CoreDNS-1.12.1` (coremain.CoreName + "-" + CoreVersion)
    return first[0].replace("-", " ", 1) if first else "unknown"


def create(kubeconfig: Path) -> None:
    """Send the CoreDNS objects to the API server (the control plane must be up)."""
    from kubernetes import config, utils

    api = config.new_client_from_config(str(kubeconfig))
    for obj in manifests():
        utils.create_from_dict(api, obj)


def deployment_ready(deployments: dict[str, Any]) -> tuple[bool, str]:
    """Wait condition: the CoreDNS Deployment has a Ready replica (its /ready answered)."""
    obj = deployments.get(f"{NAMESPACE}/{DEPLOYMENT}")
    if obj is None:
        return False, "no Deployment"
    ready = (obj.status.ready_replicas or 0) if obj.status else 0
    return ready >= 1, f"{ready}/{obj.spec.replicas} replicas Ready"


def wait_ready(kubeconfig: Path, timeout_s: float, log: Callable[[str], None]) -> None:
    """Wait until CoreDNS answers its readiness probe, with progress lines on ``log``."""
    from kubernetes import client, config

    from gpuconform.wait import wait_for

    apps = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
    wait_for(
        apps.list_namespaced_deployment,
        deployment_ready,
        what=f"cluster DNS (CoreDNS {IMAGE.rsplit(':', 1)[1]}, {network.CLUSTER_DNS_IP})",
        timeout_s=timeout_s,
        progress=log,
        namespace=NAMESPACE,
        field_selector=f"metadata.name={DEPLOYMENT}",
    )
