"""The real nodes' network: one host bridge per cluster, a veth into each node's namespace.

    host netns:  bridge gpc<id> 10.250.<n>.1/24  <- the API server's advertise address
                   |  veth gpc<id>-<i>  (its peer is eth0 in node i's network namespace)
    node i:      eth0 10.250.<n>.<10+i>/24, default route via 10.250.<n>.1
                 cni0 10.244.<i>.1/24: its pods (CNI bridge + host-local), masqueraded
                 a route to each other node's pod CIDR via that node's eth0 address
                 kube-proxy's iptables rules: all inside the node's namespace

Nothing but the bridge and the host ends of the veths lives in the host's namespace; the veths
go with the node's namespace, and ``delete_bridge`` removes the bridge.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from dataclasses import dataclass

SUBNET_BASE = ipaddress.ip_network("10.250.0.0/16")
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.0.0.0/24"  # kube-apiserver's default; kwokctl does not set one
KUBERNETES_SERVICE_IP = "10.0.0.1"
# The kube-dns Service (CoreDNS, dns.py) and each kubelet's clusterDNS: the tenth address,
# as kubeadm picks it from the service CIDR.
CLUSTER_DNS_IP = "10.0.0.10"
NODE_HOST_OFFSET = 10


class NetworkError(RuntimeError):
    """A link or address could not be set up; the message names it."""


def ip(*args: str, netns_pid: int | None = None, check: bool = True) -> str:
    cmd = ["ip", *args]
    if netns_pid is not None:
        cmd = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class ClusterNetwork:
    """Addresses of one cluster's real nodes, derived from the cluster's name."""

    cluster: str
    subnet: ipaddress.IPv4Network

    @classmethod
    def for_cluster(cls, cluster: str) -> ClusterNetwork:
        taken = _addresses_in_use()
        start = int(hashlib.sha256(cluster.encode()).hexdigest(), 16) % 200
        for step in range(200):
            subnet = list(SUBNET_BASE.subnets(new_prefix=24))[(start + step) % 200 + 20]
            if not any(addr in subnet for addr in taken):
                return cls(cluster, subnet)
        raise NetworkError(f"no free /24 in {SUBNET_BASE} for cluster {cluster!r}")

    @property
    def tag(self) -> str:
        return hashlib.sha256(self.cluster.encode()).hexdigest()[:6]

    @property
    def bridge(self) -> str:
        return f"gpc{self.tag}"

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def node_ip(self, index: int) -> str:
        return str(self.subnet.network_address + NODE_HOST_OFFSET + index)

    def host_veth(self, index: int) -> str:
        return f"gpc{self.tag}-{index}"

    @staticmethod
    def pod_cidr(index: int) -> str:
        return f"10.244.{index}.0/24"


def _addresses_in_use() -> list[ipaddress.IPv4Address]:
    out = ip("-o", "-4", "addr", "show")
    return [ipaddress.ip_interface(line.split()[3]).ip for line in out.splitlines()]


def ensure_bridge(net: ClusterNetwork) -> None:
    if ip("link", "show", net.bridge, check=False):
        return
    ip("link", "add", net.bridge, "type", "bridge")
    ip("addr", "add", f"{net.gateway}/{net.subnet.prefixlen}", "dev", net.bridge)
    ip("link", "set", net.bridge, "up")


def delete_bridge(net: ClusterNetwork | str) -> None:
    name = net.bridge if isinstance(net, ClusterNetwork) else net
    ip("link", "del", name, check=False)


def connect_node(net: ClusterNetwork, index: int, pid: int, nodes: int = 1) -> None:
    """A veth from the bridge into the namespace of process ``pid`` (the node's init), and a
    route to each of the cluster's ``nodes`` other nodes' pod CIDRs."""
    host = net.host_veth(index)
    ip("link", "del", host, check=False)  # a leftover of an interrupted start
    ip("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
    ip("link", "set", host, "master", net.bridge, "up")
    ip("link", "set", "lo", "up", netns_pid=pid)
    ip("addr", "add", f"{net.node_ip(index)}/{net.subnet.prefixlen}", "dev", "eth0", netns_pid=pid)
    ip("link", "set", "eth0", "up", netns_pid=pid)
    ip("route", "add", "default", "via", net.gateway, netns_pid=pid)
    # Pods reach pods on other nodes (CoreDNS behind its Service, from any node) through the
    # peer node's address on the bridge: routes inside the node's namespace, gone with it.
    for peer in range(nodes):
        if peer != index:
            via = net.node_ip(peer)
            ip("route", "add", net.pod_cidr(peer), "via", via, "dev", "eth0", netns_pid=pid)
