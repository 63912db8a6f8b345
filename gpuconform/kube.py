"""Kubernetes API access for a profile, with connection problems turned into one clear line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from gpuconform import __version__
from gpuconform.conditions import GPU_RESOURCE as GPU_RESOURCE  # re-exported
from gpuconform.conditions import RUN_ID_LABEL as RUN_ID_LABEL  # re-exported


class ClusterAccessError(RuntimeError):
    """The cluster cannot be used: no kubeconfig, unknown context, unreachable, forbidden."""


@dataclass
class Kube:
    """API clients for one cluster; `server` is the API server URL, for messages."""

    api_client: client.ApiClient
    server: str
    context: str | None

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api_client)

    @property
    def authz(self) -> client.AuthorizationV1Api:
        return client.AuthorizationV1Api(self.api_client)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @cached_property
    def dynamic(self) -> Any:
        """The dynamic client (any kind by apiVersion and kind); its API discovery runs once."""
        from kubernetes import dynamic

        return dynamic.DynamicClient(self.api_client)

    def resource(self, api_version: str, kind: str) -> Any:
        """The served resource of a kind; ResourceNotFoundError where the cluster lacks it."""
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def server_version(self) -> str:
        """The API server's gitVersion; raises ClusterAccessError if it cannot be reached."""
        try:
            info = client.VersionApi(self.api_client).get_code(_request_timeout=15)
        except urllib3.exceptions.HTTPError as err:
            raise ClusterAccessError(
                f"cannot reach the API server at {self.server} ({_root_cause(err)}); "
                "check that the cluster is up and the kubeconfig points at it"
            ) from None
        except ApiException as err:
            raise ClusterAccessError(
                f"the API server at {self.server} answered {err.status} {err.reason}; "
                "check your credentials"
            ) from None
        return info.git_version

    def can_i(
        self, verb: str, resource: str, group: str = "", namespace: str = "", subresource: str = ""
    ) -> bool:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb,
                    resource=resource,
                    group=group,
                    namespace=namespace or None,
                    subresource=subresource or None,
                )
            )
        )
        result = self.authz.create_self_subject_access_review(review)
        return bool(result.status.allowed)

    def rules_in(self, namespace: str) -> tuple[list[Any], bool]:
        """What the current identity may do in `namespace` (one SelfSubjectRulesReview): its
        resource rules, and whether the list is complete (an authorizer may not enumerate)."""
        review = client.V1SelfSubjectRulesReview(
            spec=client.V1SelfSubjectRulesReviewSpec(namespace=namespace)
        )
        status = self.authz.create_self_subject_rules_review(review).status
        return list(status.resource_rules or []), not status.incomplete


def _root_cause(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    text = str(reason)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route"):
        if marker in text:
            return marker.lower()
    return text.split(": ", 1)[-1][:120]


def kubeconfig_path(explicit: str | None) -> str:
    if explicit:
        return explicit
    return os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]


def connect(kubeconfig: str | None, context: str | None) -> Kube:
    """Load the kubeconfig (or in-cluster config) for a context; raise ClusterAccessError."""
    path = Path(kubeconfig_path(kubeconfig)).expanduser()
    cfg = client.Configuration()
    if not path.exists():
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not kubeconfig:
            config.load_incluster_config(client_configuration=cfg)
            return Kube(_api_client(cfg), cfg.host, None)
        raise ClusterAccessError(
            f"kubeconfig {path} not found; set `kubeconfig:` in the profile, --kubeconfig, "
            "or $KUBECONFIG"
        )
    if not os.access(path, os.R_OK):
        raise ClusterAccessError(f"kubeconfig {path} is not readable by this user")
    try:
        config.load_kube_config(str(path), context=context, client_configuration=cfg)
    except ConfigException as err:
        message = str(err)
        if context and "context" in message.lower():
            contexts, _ = _contexts(path)
            raise ClusterAccessError(
                f"context {context!r} is not in {path} (contexts: {', '.join(contexts) or 'none'})"
            ) from None
        raise ClusterAccessError(f"kubeconfig {path} is unusable: {message}") from None
    except Exception as err:  # malformed YAML and friends
        raise ClusterAccessError(f"kubeconfig {path} could not be read: {err}") from None
    return Kube(_api_client(cfg), cfg.host, context)


def _contexts(path: Path) -> tuple[list[str], Any]:
    try:
        contexts, active = config.list_kube_config_contexts(str(path))
    except Exception:
        return [], None
    return [c["name"] for c in contexts], active


USER_AGENT = f"gpuconform/{__version__}"


def _api_client(cfg: client.Configuration) -> client.ApiClient:
    # One quick retry: an unreachable server should be reported in seconds, not minutes.
    cfg.retries = 1
    api = client.ApiClient(cfg)
    # Our own user agent: API server audit logs and metrics can tell the suite's requests apart.
    api.user_agent = USER_AGENT
    return api
