"""Step 3b - DRA (allocation dra): NVIDIA's DRA driver is ready on every GPU node and hands
out GPUs through ResourceClaims (issue 19). Skipped, with the reason, on the device-plugin path.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from gpuconform import dra
from gpuconform.dra_checks import gather, readiness_findings
from gpuconform.dra_workload import (
    LEAK_FIX,
    LIST_DEVICES,
    UNSATISFIABLE,
    allocated_devices,
    pod_claims,
    unschedulable_reason,
    with_bystander,
)
from gpuconform.fleet import resolve_expectations
from gpuconform.identity import ensure_workload_namespace
from gpuconform.smi_query import parse_query_report
from gpuconform.wait import WaitTimeout, wait_for
from gpuconform.workload import GPU_LINE, wait_pod_finished, wait_pod_running
from gpuconform_pytest.state import state_of

# The DRA driver's pods (init containers first) and the run's claim pods; the nodes.
pytestmark = pytest.mark.step(
    "dra",
    needs=["preflight"],
    evidence=["plugin", "workload", "nodes", "node-probe"],
)


def _claim_pod(
    run,
    name: str,
    templates: list[str],
    script: str,
    node: str | None,
    bystander: bool = False,
    held: bool = False,
) -> None:
    """A pod of the run asking for GPUs through claims made from ``templates`` (none: a pod
    without a request); ``bystander`` adds a container that references none of them; ``held``
    runs ``script`` in an init container and keeps the pod (and its claims) up until deleted."""
    ensure_workload_namespace(run)
    command = ["sleep", "600"] if held else ["sh", "-c", script]
    body = dra.claim_pod(name, run.profile.workload_image, command, templates, node)
    if held:
        dra.with_listing(body, ["sh", "-c", script])
    if not templates:
        del body["spec"]["resourceClaims"]
        body["spec"]["containers"][0]["resources"] = {}
    if bystander:
        with_bystander(body, ["sh", "-c", LIST_DEVICES])
    body["metadata"].setdefault("labels", {}).update(run.identity.labels)
    run.kube.core.create_namespaced_pod(run.identity.workload_namespace, body)


def _template(run, resource, name: str, count: int = 1, selector: str | None = None) -> str:
    ensure_workload_namespace(run)
    body = dra.claim_template(name, count, selector)
    body["metadata"]["labels"].update(run.identity.labels)
    resource.create_namespaced_resource_claim_template(run.identity.workload_namespace, body)
    return name


def _delete(run, name: str) -> None:
    """Gracefully, and wait until it is gone: a force-deleted pod's claim goes before the
    kubelet unprepares its devices, and the driver then refuses them to the next claim."""
    run.kube.core.delete_namespaced_pod(name, run.identity.workload_namespace)

    def gone(pods: dict) -> tuple[bool, str]:
        return f"{run.identity.workload_namespace}/{name}" not in pods, "still there"

    wait_for(
        run.kube.core.list_namespaced_pod, gone, what=f"pod {name} to be deleted",
        timeout_s=run.profile.timeouts["workload"], namespace=run.identity.workload_namespace,
    )  # fmt: skip


def test_dra_is_ready_on_every_gpu_node(run, dra_driver, dra_apis, pool):
    core, resource, custom = dra_apis
    wanted = resolve_expectations(run, pool)
    unknown = sorted(node for node, want in wanted.items() if want.gpus is None)
    assert not unknown, f"no expected GPU count for {', '.join(unknown)}: set gpus_per_node"
    expected = {node: want.gpus for node, want in wanted.items()}
    state = gather(core, resource, custom, dra_driver)
    smi: dict[str, list[dict[str, str]]] = {}
    for node, count in expected.items():
        if node not in state.pools:
            continue  # nothing to claim there: the findings name the node
        smi[node] = _smi_report(run, resource, pool, node, count)
    findings = readiness_findings(state, expected, smi)
    assert not findings, "DRA not ready: " + "; ".join(str(f) for f in findings)
    run.facts.dra_pools = ", ".join(sorted(expected))


def _smi_report(run, resource, pool, node: str, count: int) -> list[dict[str, str]]:
    """``nvidia-smi -q`` inside a GPU container on ``node`` that claims all its GPUs: each
    GPU's uuid and name, with the driver and CUDA versions of the report's header."""
    name = pool.pod_name(f"dra-smi-{node}")[:63]
    template = _template(run, resource, name, count)
    _claim_pod(run, name, [template], "nvidia-smi -q", node)
    try:
        report = parse_query_report(
            wait_pod_finished(run, name, run.profile.timeouts["workload"]).logs
        )
    except (AssertionError, TimeoutError, ValueError) as err:
        # The pod stays for the diagnostics (its events say why); the run's cleanup removes it.
        pytest.fail(
            f"{node}: nvidia-smi -q could not run in a GPU container holding its GPUs: {err}"
        )
    _delete(run, name)
    return report.rows()


def test_a_claim_gets_exactly_its_gpu_and_is_released(run, dra_driver, dra_apis, pool):
    _, resource, custom = dra_apis
    name = pool.pod_name("dra-one-gpu")
    template = _template(run, resource, name)
    _claim_pod(run, name, [template], "nvidia-smi -L; sleep 2", None)
    outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
    listed = [m.group(3) for m in GPU_LINE.finditer(outcome.logs)]
    assert outcome.phase == "Succeeded" and len(listed) == 1, (
        f"claim pod {name} on {outcome.node}: {outcome.phase}, GPUs {listed}"
    )
    _delete(run, name)
    dra.wait_claims_gone(
        custom, run.identity.workload_namespace, f"{name}-", run.profile.timeouts["workload"]
    )


def test_two_claims_get_two_distinct_gpus(run, dra_driver, dra_apis, pool):
    _, resource, custom = dra_apis
    name = pool.pod_name("dra-two-claims")
    templates = [_template(run, resource, f"{name}-a"), _template(run, resource, f"{name}-b")]
    pools = dra.pools(dra.list_slices(resource))
    nodes = [n for n in pool.names if len(pools.get(n, dra.Pool(n)).devices) >= 2]
    if not nodes:
        pytest.skip(f"no GPU node{pool.where} publishes 2 GPUs: readiness says why")
    # Held until deleted, so its claims can be read while allocated.
    _claim_pod(run, name, templates, "nvidia-smi -L", nodes[0], held=True)
    wait_pod_running(run, name, run.profile.timeouts["workload"])
    devices = allocated_devices(pod_claims(custom, run.identity.workload_namespace, name))
    logs = run.kube.core.read_namespaced_pod_log(
        name, run.identity.workload_namespace, container="list"
    )
    listed = sorted(m.group(3) for m in GPU_LINE.finditer(logs))
    _delete(run, name)
    assert len(devices) == 2 and len(set(devices)) == 2, f"claims of {name} got {devices}"
    assert len(listed) == 2 and len(set(listed)) == 2, f"{name} saw GPUs {listed}"


def test_an_unsatisfiable_claim_stays_pending_with_the_schedulers_reason(
    run, dra_driver, dra_apis, pool
):
    core, resource, _ = dra_apis
    name = pool.pod_name("dra-unsatisfiable")
    template = _template(run, resource, name, selector=UNSATISFIABLE)
    _claim_pod(run, name, [template], "true", None)

    def refused(pods: dict) -> tuple[bool, str]:
        found = pods.get(f"{run.identity.workload_namespace}/{name}")
        reason = unschedulable_reason(found) if found else None
        return reason is not None or (found is not None and found.spec.node_name), str(reason)

    pods = wait_for(
        core.list_namespaced_pod, refused, what=f"the scheduler to refuse {name}",
        timeout_s=run.profile.timeouts["workload"], namespace=run.identity.workload_namespace,
    )  # fmt: skip
    pod = pods[f"{run.identity.workload_namespace}/{name}"]
    assert not pod.spec.node_name, f"{name} was placed on {pod.spec.node_name}: no GPU should fit"
    assert "cannot allocate all claims" in (unschedulable_reason(pod) or ""), unschedulable_reason(
        pod
    )
    _delete(run, name)


def test_only_the_container_that_claims_a_gpu_sees_one(run, dra_driver, dra_apis, pool):
    """AI Conformance secure_accelerator_access on the DRA path: a container referencing the
    claim sees exactly its GPU; a second container of that pod, not referencing it, sees none;
    a pod without a claim, on the same node, sees none (its image sets NVIDIA_VISIBLE_DEVICES)."""
    _, resource, _ = dra_apis
    pools = dra.pools(dra.list_slices(resource))
    nodes = [n for n in pool.names if pools.get(n) and pools[n].devices]
    if not nodes:
        pytest.skip(f"no GPU node{pool.where} publishes a GPU: readiness says why")
    node, holder, plain = nodes[0], pool.pod_name("dra-holder"), pool.pod_name("dra-no-claim")
    _claim_pod(run, holder, [_template(run, resource, holder)], LIST_DEVICES, node, True)
    _claim_pod(run, plain, [], LIST_DEVICES, node)
    seen = {}
    for name in (holder, plain):
        outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
        assert outcome.phase == "Succeeded", f"{name} on {node}: {outcome.phase}"
    for name, container in ((holder, "workload"), (holder, "bystander"), (plain, "workload")):
        logs = run.kube.core.read_namespaced_pod_log(
            name, run.identity.workload_namespace, container=container
        )
        seen[f"{name}/{container}"] = logs.split()
    for name in (holder, plain):
        _delete(run, name)
    assert len(seen[f"{holder}/workload"]) == 1, f"the claiming container saw {seen}"
    leaks = {k: v for k, v in seen.items() if v and not k.startswith(f"{holder}/workload")}
    assert not leaks, f"on {node}, containers without a claim see GPUs {leaks}: {LEAK_FIX}"


@pytest.fixture(scope="module")
def dra_apis(run):
    api = run.kube.core.api_client
    return run.kube.core, client.ResourceV1Api(api), client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def dra_driver(run, pytestconfig, dra_apis):
    """The DRA driver's namespace: installed for the run (mode install, removed after), or
    found (mode existing). Skips the step on the device-plugin path, saying why."""
    from gpuconform.dra_install import chart_source

    core, resource, _ = dra_apis
    path, why = state_of(pytestconfig).allocation
    if path != "dra":
        pytest.skip(f"GPUs are handed out by the device plugin here: {why}")
    source = run.profile.dra
    if run.profile.mode == "existing":
        yield _existing_namespace(core)
        return
    repo = source.repo
    if repo == "sim":
        sim = state_of(pytestconfig).sim
        assert sim is not None, "dra.chart.repo `sim` needs a simulated profile"
        repo = sim.chart_repo()
    chart = chart_source(run.profile, repo)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=source.namespace, labels=run.identity.labels)
        )
    )
    run.ledger.namespaces.append(source.namespace)
    helm = run.helm or pytest.fail("installing the DRA driver needs helm")
    helm.install(
        source.release_name,
        source.namespace,
        chart,
        run.identity.run_id,
        run.profile.timeouts["install"],
    )
    run.facts.dra_chart = f"{chart.name} {chart.version or '(latest)'}"
    _wait_published(run, core, resource, source.namespace)
    yield source.namespace
    if not run.profile.keep:
        helm.uninstall(source.release_name, source.namespace, run.profile.timeouts["uninstall"])


def _wait_published(run, core, resource, namespace: str) -> None:
    """Until the kubelet plugin is Ready and has published a pool on every GPU node, or the
    ready timeout: readiness then judges what there is and names what is missing."""
    nodes = set(run.fleet.names)

    def plugins_ready(pods: dict) -> tuple[bool, str]:
        ready = {
            p.spec.node_name
            for p in pods.values()
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        }
        return ready >= nodes, f"ready on {sorted(ready)}"

    def published(slices: dict) -> tuple[bool, str]:
        found = dra.pools(dra.as_dicts(resource, slices.values()))
        return set(found) >= nodes, f"pools {sorted(found)}"

    try:
        wait_for(
            core.list_namespaced_pod, plugins_ready, what="the DRA kubelet plugin",
            timeout_s=run.profile.timeouts["ready"], namespace=namespace,
        )  # fmt: skip
        wait_for(
            resource.list_resource_slice, published, what="ResourceSlices",
            timeout_s=run.profile.timeouts["ready"],
        )  # fmt: skip
    except WaitTimeout as err:
        run.progress(f"DRA: {err}")


def _existing_namespace(core) -> str:
    name = dra.settings()["kubelet_plugin_daemonset"]
    for ds in run_daemonsets(core):
        if ds.metadata.name == name:
            return ds.metadata.namespace
    pytest.fail(f"allocation is dra but no DaemonSet {name} runs: install NVIDIA's DRA driver")


def run_daemonsets(core):
    return client.AppsV1Api(core.api_client).list_daemon_set_for_all_namespaces().items
