"""What kubelet gives a pod to talk to the API server, for the SIMULATED kubelet.

Real here: the service-account token, issued by the real kube-apiserver through the TokenRequest
API and bound to the pod, exactly as kubelet's projected `kube-api-access-*` volume obtains it.
Simulated: the volume itself, which is a host directory that the runtime bind-mounts at
SERVICE_ACCOUNT_PATH, and the API server's address, which is the control plane's real
127.0.0.1:<port> (its serving certificate covers 127.0.0.1) instead of a Service cluster IP.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from kubernetes.client import (
    AuthenticationV1TokenRequest,
    CoreV1Api,
    V1BoundObjectReference,
    V1Pod,
    V1ServiceAccount,
    V1TokenRequestSpec,
)
from kubernetes.client.exceptions import ApiException

SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# The projected volume's defaultMode that the ServiceAccount admission plugin sets (420).
DEFAULT_MODE = 0o644
# kubelet writes the token 0600 instead when the pod sets an fsGroup or a user to own it
# (pkg/volume/projected: FsUser/FsGroup), so only that user can read it.
PRIVATE_MODE = 0o600


class CredentialsError(RuntimeError):
    """A pod's API credentials could not be made; the one-line message says why."""


def api_endpoint(kubeconfig: Path) -> tuple[str, int, bytes]:
    """Host, port and CA certificate (PEM) of the API server of the kubeconfig's current context.

    The CA is taken from `certificate-authority-data` or from the `certificate-authority` file
    (relative paths are relative to the kubeconfig, as kubectl resolves them).
    """
    config = yaml.safe_load(kubeconfig.read_text()) or {}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    current = contexts.get(config.get("current-context", ""))
    if current is not None and current.get("cluster") in clusters:
        cluster = clusters[current["cluster"]]
    elif len(clusters) == 1:
        cluster = next(iter(clusters.values()))
    else:
        raise CredentialsError(f"{kubeconfig}: no current context names a cluster")
    server = urlsplit(cluster["server"])
    if server.scheme != "https" or not server.hostname:
        raise CredentialsError(f"{kubeconfig}: server {cluster['server']!r} is not https://")
    if "certificate-authority-data" in cluster:
        ca_pem = base64.b64decode(cluster["certificate-authority-data"])
    elif "certificate-authority" in cluster:
        ca_pem = (kubeconfig.parent / cluster["certificate-authority"]).read_bytes()
    else:
        raise CredentialsError(f"{kubeconfig}: the cluster has no CA; pods could not verify it")
    return server.hostname, server.port or 443, ca_pem


def service_env(host: str, port: int) -> dict[str, str]:
    """The env kubelet sets in every container for the `kubernetes` Service (port `https`).

    kubelet adds these for the master Service whatever `enableServiceLinks` says: the
    `{SVC}_SERVICE_*` variables and the Docker-link style `{SVC}_PORT*` ones.
    """
    # Docker-link URLs join host and port as Go's net.JoinHostPort does (IPv6 in brackets).
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    link = f"KUBERNETES_PORT_{port}_TCP"
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{address}",
        link: f"tcp://{address}",
        f"{link}_PROTO": "tcp",
        f"{link}_PORT": str(port),
        f"{link}_ADDR": host,
    }


def automounts_token(pod: V1Pod, service_account: V1ServiceAccount | None) -> bool:
    """Does the pod get the service-account volume? Kubernetes' rule: the pod's
    `automountServiceAccountToken` if set, else its ServiceAccount's, else true.

    (The admission plugin also skips a container that already mounts SERVICE_ACCOUNT_PATH
    itself; that per-container case is the caller's.)
    """
    if pod.spec is not None and pod.spec.automount_service_account_token is not None:
        return pod.spec.automount_service_account_token
    if service_account is not None and service_account.automount_service_account_token is not None:
        return service_account.automount_service_account_token
    return True


def service_account_volume(
    core: CoreV1Api, pod: V1Pod, dest: Path, ca_pem: bytes, expiration_s: int = 3600
) -> Path:
    """Write the pod's `token`, `ca.crt` and `namespace` into `dest` and return `dest`.

    The token comes from the TokenRequest API for the pod's service account, bound to the pod
    (it stops working once the pod is deleted) and for the API server's default audience.
    Calling it again refreshes the files in place, as kubelet rotates the token.
    """
    namespace = pod.metadata.namespace or "default"
    sa_name = pod.spec.service_account_name or "default"
    request = AuthenticationV1TokenRequest(
        spec=V1TokenRequestSpec(
            audiences=[],  # empty: the API server's own audiences
            expiration_seconds=expiration_s,
            bound_object_ref=V1BoundObjectReference(
                kind="Pod", api_version="v1", name=pod.metadata.name, uid=pod.metadata.uid
            ),
        )
    )
    try:
        issued = core.create_namespaced_service_account_token(sa_name, namespace, body=request)
    except ApiException as exc:
        raise CredentialsError(_token_failure(exc, namespace, sa_name, pod.metadata.name)) from exc
    # kubelet's FsUser is the user all containers share; the pod-level one stands in for it.
    security = pod.spec.security_context
    private = security is not None and (
        security.fs_group is not None or security.run_as_user is not None
    )
    dest.mkdir(parents=True, exist_ok=True)
    token_mode = PRIVATE_MODE if private else DEFAULT_MODE
    _write_atomic(dest / "token", issued.status.token.encode(), token_mode)
    _write_atomic(dest / "ca.crt", ca_pem, DEFAULT_MODE)
    _write_atomic(dest / "namespace", namespace.encode(), DEFAULT_MODE)
    return dest


def _token_failure(exc: ApiException, namespace: str, sa_name: str, pod_name: str) -> str:
    """One line naming what the API server refused (the service account or the pod)."""
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    kind = (body.get("details") or {}).get("kind")
    if exc.status == 404 and kind == "serviceaccounts":
        return (
            f"service account {namespace}/{sa_name} of pod {namespace}/{pod_name} does not "
            "exist; no token can be issued for it"
        )
    reason = body.get("message") or exc.reason
    return f"token request for service account {namespace}/{sa_name} failed: {reason}"


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    # Replace, never rewrite in place: a running program (client-go re-reads its token file)
    # must never see a half-written token when the volume is refreshed.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
