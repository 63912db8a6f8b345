"""Teardown and the leak check cover every kind the chart renders, against a real API server.

An interrupted `helm install` can leave objects no release records (e.g. the nfd subchart's
Deployment when GFD is on). The run knows the chart's kinds from the session gate's
`helm template`; whatever of those kinds carries its run id goes, and nothing else does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kubernetes import client

from gpuconform.identity import RunIdentity, new_run_id
from gpuconform.kube import RUN_ID_LABEL, connect
from gpuconform.leak_check import leaks
from gpuconform.ledger import Ledger
from gpuconform.profile import resolve_profile
from gpuconform.run import RunContext
from gpuconform.teardown import delete_created
from tests.fixtures.suite_run import external_profiles

NAMESPACE = "teardown-kinds"


def deployment(name: str, labels: dict[str, str]) -> dict:
    selector = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def test_leftovers_of_the_charts_other_kinds_are_found_and_removed(
    tmp_path, shared_cluster, shared_api
):
    profiles = Path(external_profiles(tmp_path, shared_cluster))
    profile = dataclasses.replace(resolve_profile("ext", profiles), namespace=NAMESPACE)
    ctx = RunContext(
        profile=profile,
        kube=connect(profile.kubeconfig, profile.context),
        helm=None,
        identity=RunIdentity(new_run_id()),
        report_dir=tmp_path,
        progress=lambda line: None,
        ledger=Ledger(chart_kinds={("apps/v1", "Deployment"), ("apps/v1", "DaemonSet")}),
    )
    core, apps = client.CoreV1Api(shared_api), client.AppsV1Api(shared_api)
    core.create_namespace({"metadata": {"name": NAMESPACE}})  # not the run's: it stays
    try:
        apps.create_namespaced_deployment(
            NAMESPACE, deployment("left-by-install", {RUN_ID_LABEL: ctx.identity.run_id})
        )
        apps.create_namespaced_deployment(NAMESPACE, deployment("someone-elses", {}))
        assert leaks(ctx) == [f"Deployment {NAMESPACE}/left-by-install"]

        delete_created(ctx, timeout_s=60)

        assert leaks(ctx) == []
        names = [d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items]
        assert names == ["someone-elses"]  # never delete what this run did not create
    finally:
        core.delete_namespace(NAMESPACE)
