"""`gpuconform` command line: the simulated cluster (`sim`), the explainer (`explain`), the
runner's RBAC (`rbac`) and the trend of earlier runs (`history`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The simulated cluster's modules are imported only when a `sim` command needs them, so that
# `gpuconform explain` and `history` start fast (BENCHMARKS.md: under 1 s per file) and work
# where the simulator's dependencies are not installed.
NODE_PROFILES_DIR = Path(__file__).parent / "sim" / "node_profiles"


def _node_profile_names() -> list[str]:
    """The simulator's node profiles, read from its data directory (no import of the sim)."""
    return sorted(p.stem for p in NODE_PROFILES_DIR.glob("*.yaml"))


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_all(require_real_plugin: bool) -> int:
    """The toolchain, the third-party binaries and the generated kubelet protocol code."""
    from gpuconform.sim import third_party
    from gpuconform.sim.kubelet import deviceplugin_proto
    from gpuconform.sim.kubelet.runtime import mount_namespaces_work
    from gpuconform.sim.toolchain import ensure_node_toolchain, ensure_toolchain

    print(ensure_toolchain(_log))
    print(ensure_node_toolchain(_log))
    deviceplugin_proto.load()
    real = third_party.ensure_third_party(_log)
    problem = (
        None
        if real and mount_namespaces_work()
        else "no third-party binaries (set GPUCONFORM_THIRD_PARTY)"
        if not real
        else "`unshare --mount` is not permitted (run as root)"
    )
    if problem is None and require_real_plugin and not third_party.nfd_ready():
        problem = "Node Feature Discovery was not built (see above); GFD labels need it"
    if problem is None:
        _log("device plugin: real NVIDIA binaries (provenance above)")
        return 0
    if require_real_plugin:
        print(f"gpuconform: error: the real device plugin cannot run: {problem}", file=sys.stderr)
        return 1
    _log(f"device plugin: simulated (no real binary): {problem}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    if args.action == "build":
        return build_all(args.require_real_plugin)
    from gpuconform.sim.cluster import DEFAULT_NAME, SimCluster

    cluster = SimCluster(args.name or DEFAULT_NAME, log=_log)
    if args.action == "up":
        print(cluster.up(args.nodes, port=args.port, timeout_s=args.timeout))
    elif args.action == "down":
        cluster.down()
    else:
        status = cluster.status()
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 3
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from gpuconform.diagnose.explain_files import explain_files, list_known

    if args.list_catalogue:
        return list_known(sys.stdout)
    if not args.files:
        sys.stderr.write("gpuconform explain: name the files to explain (or --list-catalogue)\n")
        return 2
    return explain_files(args.files, sys.stdout, sys.stderr)


def cmd_rbac(args: argparse.Namespace) -> int:
    from gpuconform.rbac import render

    sys.stdout.write(render(args.mode, ("gfd",) if args.gfd else ()))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gpuconform.report.trend import format_history, load_trend

    rows = load_trend(Path(args.reports_dir), args.profile, args.limit)
    if not rows:
        which = f" of profile {args.profile}" if args.profile else ""
        print(f"gpuconform: no runs{which} with a summary.json in {args.reports_dir}/")
        return 1
    sys.stdout.write(format_history(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpuconform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser(
        "sim",
        help="the simulated GPU cluster (real control plane; real or KWOK nodes, simulated GPUs)",
    )
    sim.add_argument("action", choices=["up", "down", "status", "build"])
    sim.add_argument("--name", help="cluster name (default gpuconform-sim)")
    sim.add_argument(
        "--nodes",
        default="real-healthy",  # the `sim` profile's: real nodes
        help=f"node profile (default %(default)s): a name ({', '.join(_node_profile_names())})"
        " or a YAML path",
    )
    sim.add_argument("--port", type=int, help="kube-apiserver port (default: a free one)")
    sim.add_argument("--timeout", type=float, default=120, help="seconds to wait for readiness")
    sim.add_argument(
        "--require-real-plugin",
        action="store_true",
        help="build: fail unless simulated nodes can run NVIDIA's real plugin binaries "
        "and Node Feature Discovery",
    )
    sim.set_defaults(func=cmd_sim)
    rbac = sub.add_parser("rbac", help="print the runner's least-privilege RBAC for a mode")
    rbac.add_argument("mode", choices=["install", "existing"])
    rbac.add_argument(
        "--gfd", action="store_true", help="also what the chart needs with gfd.enabled (NFD)"
    )
    rbac.set_defaults(func=cmd_rbac)
    explain = sub.add_parser("explain", help="explain saved outputs with the failure signatures")
    explain.add_argument("files", nargs="*")
    explain.add_argument(
        "--list-catalogue",
        action="store_true",
        help="list every known message: id, layer, component, meaning (signatures.yaml first)",
    )
    explain.set_defaults(func=cmd_explain)
    history = sub.add_parser(
        "history", help="the last runs: date, verdict, duration per step, new failures"
    )
    history.add_argument("--profile", help="only this profile's runs (default: every profile)")
    history.add_argument(
        "--reports-dir", default="reports", help="where run reports are (default %(default)s)"
    )
    history.add_argument("--limit", type=int, help="how many runs (default: report.yaml's)")
    history.set_defaults(func=cmd_history)
    return parser


def _sim_errors() -> tuple[type[Exception], ...]:
    from gpuconform.sim.cluster import SimClusterError
    from gpuconform.sim.nodes import NodeProfileError
    from gpuconform.sim.third_party import ThirdPartyError
    from gpuconform.sim.toolchain import ToolchainError

    return (SimClusterError, NodeProfileError, ToolchainError, ThirdPartyError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _sim_errors() as err:  # evaluated only when something was raised
        print(f"gpuconform: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
