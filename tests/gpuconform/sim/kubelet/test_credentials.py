"""Pods of simulated nodes get what kubelet gives a pod: a bound service-account token that the
real API server accepts, its CA, its namespace and the `KUBERNETES_*` env."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from gpuconform.sim.kubelet.credentials import (
    CredentialsError,
    api_endpoint,
    automounts_token,
    service_account_volume,
    service_env,
)
from tests.fixtures.sim_cluster import own_cluster

pytestmark = pytest.mark.sim

NAMESPACE = "default"
SA = "gpu-reader"


@pytest.fixture(scope="module")
def cluster():
    with own_cluster("cred") as sim:
        yield sim


@pytest.fixture(scope="module")
def core(cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(cluster.paths.kubeconfig)))


@pytest.fixture(scope="module")
def account(core) -> str:
    """A service account of our own: `default` is made by a controller, at a time of its own."""
    core.create_namespaced_service_account(
        NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=SA))
    )
    return SA


def pending_pod(core: client.CoreV1Api, name: str, service_account: str) -> client.V1Pod:
    """A pod that is never scheduled (no node has the label), so no simulated kubelet runs it."""
    return core.create_namespaced_pod(
        NAMESPACE,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                service_account_name=service_account,
                node_selector={"gpuconform.io/no-such-node": "true"},
                containers=[client.V1Container(name="c", image="registry.k8s.io/pause:3.10")],
            ),
        ),
    )


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_api_endpoint_of_the_sim_cluster(cluster):
    host, port, ca_pem = api_endpoint(cluster.paths.kubeconfig)
    assert (host, port) == ("127.0.0.1", cluster.apiserver_port())
    assert ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_token_authenticates_as_the_service_account_bound_to_the_pod(
    cluster, core, account, tmp_path
):
    pod = pending_pod(core, "cred-pod", account)
    host, port, ca_pem = api_endpoint(cluster.paths.kubeconfig)

    volume = service_account_volume(core, pod, tmp_path / "sa", ca_pem)

    assert sorted(p.name for p in volume.iterdir()) == ["ca.crt", "namespace", "token"]
    assert (volume / "namespace").read_text() == NAMESPACE
    assert (volume / "ca.crt").read_bytes() == ca_pem
    for name in ("token", "ca.crt", "namespace"):
        assert stat.S_IMODE((volume / name).stat().st_mode) == 0o644
    token = (volume / "token").read_text()
    jwt = claims(token)
    assert jwt["kubernetes.io"]["pod"] == {"name": "cred-pod", "uid": pod.metadata.uid}
    assert jwt["exp"] - jwt["iat"] == 3600

    # Connect as a program in the pod would: env address, mounted CA, mounted token.
    env = service_env(host, port)
    conf = client.Configuration()
    conf.host = f"https://{env['KUBERNETES_SERVICE_HOST']}:{env['KUBERNETES_SERVICE_PORT']}"
    conf.ssl_ca_cert = str(volume / "ca.crt")
    conf.api_key = {"authorization": token}
    conf.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(conf) as api:
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
    user = review.status.user_info
    assert user.username == f"system:serviceaccount:{NAMESPACE}:{account}"
    assert user.extra["authentication.kubernetes.io/pod-name"] == ["cred-pod"]
    assert user.extra["authentication.kubernetes.io/pod-uid"] == [pod.metadata.uid]


def test_token_is_private_when_the_pod_sets_a_user(cluster, core, account, tmp_path):
    pod = pending_pod(core, "cred-pod-user", account)
    pod.spec.security_context = client.V1PodSecurityContext(run_as_user=1000)
    _, _, ca_pem = api_endpoint(cluster.paths.kubeconfig)
    volume = service_account_volume(core, pod, tmp_path / "sa", ca_pem)
    assert stat.S_IMODE((volume / "token").stat().st_mode) == 0o600
    assert stat.S_IMODE((volume / "ca.crt").stat().st_mode) == 0o644


def test_missing_service_account_is_named(cluster, core, tmp_path):
    gone = "short-lived"
    core.create_namespaced_service_account(
        NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=gone))
    )
    pod = pending_pod(core, "cred-orphan", gone)  # admission wants the account to exist
    core.delete_namespaced_service_account(gone, NAMESPACE)

    with pytest.raises(CredentialsError) as err:
        service_account_volume(core, pod, tmp_path / "sa", b"")
    message = str(err.value)
    assert f"{NAMESPACE}/{gone}" in message and "does not exist" in message
    assert "\n" not in message
    assert not (tmp_path / "sa").exists()


def test_service_env_follows_kubelet():
    assert service_env("127.0.0.1", 6443) == {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": "6443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "6443",
        "KUBERNETES_PORT": "tcp://127.0.0.1:6443",
        "KUBERNETES_PORT_6443_TCP": "tcp://127.0.0.1:6443",
        "KUBERNETES_PORT_6443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_6443_TCP_PORT": "6443",
        "KUBERNETES_PORT_6443_TCP_ADDR": "127.0.0.1",
    }
    assert service_env("::1", 443)["KUBERNETES_PORT"] == "tcp://[::1]:443"


def test_api_endpoint_reads_embedded_and_relative_ca(tmp_path: Path):
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_bytes(pem)

    def kubeconfig(cluster: dict) -> Path:
        path = tmp_path / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "clusters": [{"name": "c", "cluster": cluster}],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        return path

    embedded = {
        "server": "https://10.0.0.1",
        "certificate-authority-data": base64.b64encode(pem).decode(),
    }
    assert api_endpoint(kubeconfig(embedded)) == ("10.0.0.1", 443, pem)
    relative = {"server": "https://[fd00::1]:6443", "certificate-authority": "ca.pem"}
    assert api_endpoint(kubeconfig(relative)) == ("fd00::1", 6443, pem)
    with pytest.raises(CredentialsError, match="no CA"):
        api_endpoint(kubeconfig({"server": "https://10.0.0.1"}))


@pytest.mark.parametrize(
    ("on_pod", "on_account", "mounted"),
    [
        (None, None, True),
        (None, False, False),
        (None, True, True),
        (False, True, False),
        (True, False, True),
        (False, None, False),
    ],
)
def test_automount_rules(on_pod, on_account, mounted):
    pod = client.V1Pod(spec=client.V1PodSpec(containers=[], automount_service_account_token=on_pod))
    account = client.V1ServiceAccount(automount_service_account_token=on_account)
    assert automounts_token(pod, account) is mounted


def test_automount_without_a_service_account_follows_the_pod():
    pod = client.V1Pod(spec=client.V1PodSpec(containers=[]))
    assert automounts_token(pod, None) is True
    pod.spec.automount_service_account_token = False
    assert automounts_token(pod, None) is False
