"""`gpuconform` command line: the simulated cluster (`sim`) and the explainer (`explain`)."""

from __future__ import annotations

import argparse
import json
import sys

from gpuconform.sim.cluster import DEFAULT_NAME, SimCluster, SimClusterError
from gpuconform.sim.nodes import NodeProfileError, known_node_profiles
from gpuconform.sim.toolchain import ToolchainError, ensure_toolchain


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_sim(args: argparse.Namespace) -> int:
    if args.action == "build":
        print(ensure_toolchain(_log))
        return 0
    cluster = SimCluster(args.name, log=_log)
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
    from gpuconform.diagnose.explain_files import explain_files

    return explain_files(args.files, sys.stdout, sys.stderr)


def cmd_rbac(args: argparse.Namespace) -> int:
    from gpuconform.rbac import render

    sys.stdout.write(render(args.mode))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpuconform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("sim", help="the simulated GPU cluster (KWOK nodes, real control plane)")
    sim.add_argument("action", choices=["up", "down", "status", "build"])
    sim.add_argument("--name", default=DEFAULT_NAME, help="cluster name (default %(default)s)")
    sim.add_argument(
        "--nodes",
        default="healthy",
        help=f"node profile: a name ({', '.join(known_node_profiles())}) or a YAML path",
    )
    sim.add_argument("--port", type=int, help="kube-apiserver port (default: a free one)")
    sim.add_argument("--timeout", type=float, default=120, help="seconds to wait for readiness")
    sim.set_defaults(func=cmd_sim)
    rbac = sub.add_parser("rbac", help="print the runner's least-privilege RBAC for a mode")
    rbac.add_argument("mode", choices=["install", "existing"])
    rbac.set_defaults(func=cmd_rbac)
    explain = sub.add_parser("explain", help="explain saved outputs with the failure signatures")
    explain.add_argument("files", nargs="+")
    explain.set_defaults(func=cmd_explain)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SimClusterError, NodeProfileError, ToolchainError) as err:
        print(f"gpuconform: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
