"""The runbook's steps, run by hand on the same host, timed: the baseline BENCHMARKS.md sets
the suite's wall time against.

    python -m gpuconform.gpuhost.runbook --out runbook.json [--nodes gpu-host]

Starts the sim cluster with the node profile (not timed: the suite's run starts one too, see
BENCHMARKS.md), then times what an engineer types: ``helm install --wait``, ``kubectl rollout
status``, a GPU pod to completion (``kubectl apply`` + ``kubectl wait``), ``helm uninstall
--wait``; and stops the cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gpuconform.sim import third_party, toolchain
from gpuconform.sim.cluster import SimCluster

NAMESPACE = "nvdp"
IMAGE = "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "vectoradd", "namespace": "default"},
    "spec": {
        "restartPolicy": "Never",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {"name": "vectoradd", "image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": 1}}}
        ],
    },
}


def timed(steps: list[dict], name: str, cmd: list[str], env: dict, **kwargs) -> str:
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, **kwargs)
    seconds = time.monotonic() - started
    steps.append({"step": name, "command": " ".join(cmd), "seconds": round(seconds, 2),
                  "exit": proc.returncode})  # fmt: skip
    print(f"runbook: {name}: {seconds:.1f}s (exit {proc.returncode})", flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc.stdout


def run_steps(kubeconfig: Path, steps: list[dict], timeout_s: int = 180) -> dict:
    bins = toolchain.bin_dir()
    helm, kubectl = str(bins / "helm"), str(bins / "kubectl")
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    chart = str(third_party.chart_archive("0.20.0"))
    install = [helm, "install", "nvdp", chart, "-n", NAMESPACE]
    install += ["--create-namespace", "--wait", "--timeout", f"{timeout_s}s"]
    timed(steps, "helm install --wait", install, env)
    daemonset = timed(steps, "find the DaemonSet", [kubectl, "-n", NAMESPACE, "get", "ds", "-o",
                      "name"], env).split()[0]  # fmt: skip
    timed(steps, "kubectl rollout status", [kubectl, "-n", NAMESPACE, "rollout", "status",
          daemonset, f"--timeout={timeout_s}s"], env)  # fmt: skip
    timed(steps, "kubectl apply (GPU pod)", [kubectl, "apply", "-f", "-"], env,
          input=json.dumps(POD))  # fmt: skip
    timed(steps, "kubectl wait (pod Succeeded)", [kubectl, "wait", "pod/vectoradd",
          "--for=jsonpath={.status.phase}=Succeeded", f"--timeout={timeout_s}s"], env)  # fmt: skip
    log = timed(steps, "kubectl logs", [kubectl, "logs", "vectoradd"], env)
    timed(steps, "kubectl delete pod", [kubectl, "delete", "pod", "vectoradd", "--wait"], env)
    timed(steps, "helm uninstall --wait", [helm, "uninstall", "nvdp", "-n", NAMESPACE, "--wait",
          "--timeout", f"{timeout_s}s"], env)  # fmt: skip
    total = sum(s["seconds"] for s in steps)
    return {"steps": steps, "total_seconds": round(total, 2), "pod_log": log}


def capture_debug(cluster: SimCluster, kubeconfig: Path, out: Path) -> None:
    """After a failed step: what an engineer would look at next, and the node's own logs."""
    kubectl = str(toolchain.bin_dir() / "kubectl")
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    parts = []
    for args in (["get", "pods", "-A", "-o", "wide"], ["describe", "pods", "-A"],
                 ["get", "events", "-A"], ["describe", "nodes"]):  # fmt: skip
        proc = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True)
        parts.append(f"=== kubectl {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    node_dirs = sorted((cluster.paths.state_dir / "nodes").glob("*"))
    for log in (
        [p for d in node_dirs for p in (*d.glob("logs/*.log"), *d.glob("*.log"))]
        + [p for d in node_dirs for p in d.glob("root/run/containerd/nvidia-container-runtime.log")]
        + [p for d in node_dirs for p in d.glob("root/etc/cdi/*.yaml")]
    ):
        lines = log.read_text(errors="replace").splitlines()[-150:]
        parts.append(f"=== {log} (last {len(lines)} lines)\n" + "\n".join(lines))
    out.write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the runbook by hand, timed")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--nodes", default="gpu-host")
    parser.add_argument("--timeout", type=int, default=180, help="seconds each step may take")
    args = parser.parse_args(argv)
    cluster = SimCluster("gpuconform-runbook")
    started = time.monotonic()
    kubeconfig = cluster.up(args.nodes)
    up_seconds = time.monotonic() - started
    steps: list[dict] = []
    try:
        result = run_steps(kubeconfig, steps, args.timeout)
    except RuntimeError as err:  # what was measured stays, with the step that failed
        result = {"steps": steps, "error": str(err)}
        capture_debug(cluster, kubeconfig, args.out.with_name("runbook-debug.txt"))
    finally:
        cluster.down()
    result["cluster_up_seconds"] = round(up_seconds, 2)
    args.out.write_text(json.dumps(result, indent=2))
    if "error" in result:
        print(f"runbook: {result['error']}")
        return 1
    print(f"runbook: total {result['total_seconds']:.1f}s (cluster start {up_seconds:.1f}s, "
          "not counted)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
