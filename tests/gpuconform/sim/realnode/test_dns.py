"""Cluster DNS on real nodes: the real CoreDNS (v1.12.1, kubeadm v1.34.4's) answers a pod's
query for the API server's Service, and the real kubelet no longer warns MissingClusterDNS."""

from __future__ import annotations

import re

import pytest
from kubernetes import client

from gpuconform.sim.realnode import dns, network
from gpuconform.wait import wait_for

NODE = "real-gpu-0"
# The diagnostics' probe image: busybox's nslookup, as the images.yaml base lays it out.
IMAGE = "docker.io/library/ubuntu:24.04"
NAMESPACE = "default"
API_NAME = "kubernetes.default.svc.cluster.local"


def _finished(name: str):
    def condition(pods: dict) -> tuple[bool, str]:
        pod = pods.get(f"{NAMESPACE}/{name}")
        phase = pod.status.phase if pod else "absent"
        return phase in ("Succeeded", "Failed"), f"{name} {phase}"

    return condition


def test_coredns_runs_from_its_upstream_reference_on_a_real_node(real_core, real_cluster):
    (pod,) = real_core.list_namespaced_pod(dns.NAMESPACE, label_selector="k8s-app=kube-dns").items
    assert pod.spec.containers[0].image == dns.IMAGE
    assert pod.status.container_statuses[0].ready
    labels = real_core.read_node(pod.spec.node_name).metadata.labels
    assert labels["gpuconform.io/node-runtime"] == "real"
    service = real_core.read_namespaced_service("kube-dns", dns.NAMESPACE)
    assert service.spec.cluster_ip == network.CLUSTER_DNS_IP


@pytest.fixture(scope="module")
def lookup(real_core, real_cluster) -> tuple[client.V1Pod, str]:
    """A ClusterFirst pod on a real node that looks the API server's Service up; its log."""
    name = "dns-lookup"
    # kube-proxy programs the Service on each node a moment after CoreDNS turns Ready (until
    # then its iptables rule REJECTs: "write to '10.0.0.10': Connection refused"), as on any
    # cluster. The kubelet, not the test, retries: restartPolicy OnFailure restarts a lookup
    # that came too early, with its own back-off, and the pod Succeeds once one answers.
    script = f"cat /etc/resolv.conf; nslookup -timeout=1 {API_NAME}"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="OnFailure",
            node_name=NODE,
            tolerations=[client.V1Toleration(operator="Exists")],
            containers=[client.V1Container(name="c", image=IMAGE, command=["sh", "-c", script])],
        ),
    )
    real_core.create_namespaced_pod(NAMESPACE, pod)
    wait_for(
        real_core.list_namespaced_pod,
        _finished(name),
        what="the DNS lookup pod to finish",
        timeout_s=90,
        namespace=NAMESPACE,
    )
    return (
        real_core.read_namespaced_pod(name, NAMESPACE),
        real_core.read_namespaced_pod_log(name, NAMESPACE),
    )


def test_a_pod_resolves_the_api_servers_service_by_name(real_core, lookup):
    pod, log = lookup
    assert pod.status.phase == "Succeeded", log
    assert pod.spec.dns_policy == "ClusterFirst"
    # The kubelet wrote the pod's resolv.conf from its clusterDNS (ClusterFirst)...
    assert f"nameserver {network.CLUSTER_DNS_IP}" in log, log
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in log, log
    # ...and CoreDNS answered with the `kubernetes` Service's ClusterIP, read from the API.
    api_ip = real_core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    answer = log.rsplit(f"Name:\t{API_NAME}", 1)
    assert len(answer) == 2, log
    assert re.findall(r"^Address:\s*(\S+)$", answer[1], re.MULTILINE)[:1] == [api_ip], log
    # Its own server line names the cluster DNS, not the host's resolver.
    assert re.search(rf"^Server:\s*{re.escape(network.CLUSTER_DNS_IP)}$", log, re.MULTILINE), log


def test_the_real_kubelet_warns_no_missing_cluster_dns(real_core, lookup):
    # A kubelet without clusterDNS warns this for every ClusterFirst pod it starts, the
    # lookup pod included; CoreDNS itself runs with dnsPolicy Default.
    pod, _ = lookup
    assert pod.status.phase in ("Succeeded", "Failed")
    missing_dns = "reason=MissingClusterDNS"
    events = real_core.list_event_for_all_namespaces(field_selector=missing_dns).items
    assert not events, [f"{e.involved_object.name}: {e.message}" for e in events]
