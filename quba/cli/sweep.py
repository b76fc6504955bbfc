"""`quba sweep`: evaluate a zoo of models, fault-isolated and resumable, on a local pool, Ray or SLURM."""
from __future__ import annotations

import argparse
import textwrap

ORDER = 12


def _evaluate_parent() -> argparse.ArgumentParser:
    """`quba evaluate`'s own parser (MODEL ..., --model and every run option), built by its code, so an
    option added to evaluate is a sweep option too. Evaluate's deprecated `--workers` (its
    `--loader-workers`' old name) is dropped: in a sweep, `--workers` counts worker processes."""
    from quba.cli import _Parser
    from quba.cli import evaluate
    from quba.cli._aliases import forget

    holder = _Parser(add_help=False)
    sub = holder.add_subparsers(parser_class=_Parser)
    evaluate.register(sub)
    parent = sub.choices["evaluate"]
    forget(parent, "--workers")
    parent._option_string_actions["--format"].help = "table (readable) or json: the summary of the sweep"
    return parent


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        parents=[_evaluate_parent()],
        add_help=False,
        help="evaluate many models as a resumable, fault-isolated job (local processes, Ray or SLURM)",
        description=textwrap.fill(
            "Evaluate every MODEL (ids, --group, --models-file) on a suite: one task per model (or per split "
            "with --split-tasks) on the chosen executor. Each task writes its model's record; a model that "
            "fails gets DIR/<suite>/failures/<model>.json and the sweep goes on. Models whose record already "
            "holds the requested dimensions with this setup are not touched; a rerun of the same command "
            "resumes an interrupted sweep. The driver writes DIR/<suite>/leaderboard.csv and the state "
            "DIR/<suite>/sweep.json (quba sweep --status). All 'quba evaluate' options apply. Exit code 1 if "
            "any model failed. Output and cache ($QUBA_CACHE) must be on a filesystem every worker sees."
        ),
        epilog="examples:\n"
               "  quba sweep --group mini --workers 2 --dims accuracy calibration_error\n"
               "  quba sweep --group paper --suite imagenet --data-root /data --executor ray --gpus-per-task 1\n"
               "  quba sweep --group paper --suite imagenet --data-root /shared/imagenet -o /shared/results \\\n"
               "      --executor submitit --slurm-partition gpu --slurm-gpus 1 --timeout-min 720\n"
               "  quba sweep --status -o results --suite mini\n"
               "  quba sweep --group mini --retry-failed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("which models")
    g.add_argument("--group", action="append", metavar="GROUP",
                   help="paper (every model of the published leaderboard), mini (the mini zoo) or a catalog "
                        "group (quba zoo list); repeatable (default for --suite mini: mini)")
    g.add_argument("--models-file", metavar="FILE", help="model ids, one per line ('#' comments)")
    g.add_argument("--retry-failed", action="store_true",
                   help="run only the models with a failures/ entry (of those named, else all of them)")
    g.add_argument("--force", action="store_true",
                   help="evaluate even models whose record is up to date (from the cache where possible)")
    g.add_argument("--split-tasks", action="store_true",
                   help="one task per split of each model (into the shared prediction cache), then one task "
                        "per model computing its dimensions from the cache")
    g.add_argument("--status", action="store_true",
                   help="print the state of the sweep in DIR/<suite>/sweep.json and exit")
    e = p.add_argument_group("executors")
    from quba.cli import _names

    e.add_argument("--executor", default="local", metavar=_names.executor_metavar(),
                   help="local (default): worker processes here; ray: a Ray cluster (extra [ray]); "
                        "submitit: SLURM jobs via submitit (extra [slurm]); or a plugin's executor (--plugin)")
    e.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local: N worker processes, each with cores // N torch threads (default 1, or one per "
                        "--gpus entry)")
    e.add_argument("--gpus", metavar="I,J", help="local: one GPU per worker, e.g. 0,1")
    e.add_argument("--ray-address", metavar="auto|HOST:PORT",
                   help="ray: the cluster to join (default: start a local Ray on this machine)")
    e.add_argument("--cpus-per-task", type=float, default=None, metavar="C",
                   help="ray / submitit: CPUs (and torch threads) per task (default 1)")
    e.add_argument("--gpus-per-task", type=float, default=0, metavar="G", help="ray: GPUs per task (default 0)")
    e.add_argument("--slurm-partition", metavar="P", help="submitit: SLURM partition")
    e.add_argument("--slurm-gpus", type=int, default=0, metavar="G", help="submitit: GPUs per job (default 0)")
    e.add_argument("--timeout-min", type=int, default=60, metavar="M",
                   help="submitit: time limit per job in minutes (default 60)")
    e.add_argument("--array-parallelism", type=int, default=64, metavar="K",
                   help="submitit: at most K jobs of the array at once (default 64)")
    e.add_argument("--submitit-cluster", choices=["slurm", "local"], default=None,
                   help="submitit: force a cluster type (default: SLURM when sbatch is found, else local)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.status:
        from quba.errors import QubaError
        from quba.sweep.state import read_state, render_status, state_path

        st = read_state(args.output, args.suite)
        if st is None:
            raise QubaError(f"no sweep state at {state_path(args.output, args.suite)}; start one with quba sweep "
                            f"... --output {args.output} --suite {args.suite}")
        print(render_status(st))
        return 0
    from quba.cli.evaluate import evaluate_kwargs
    from quba.sweep.driver import run as run_sweep

    return run_sweep(args, evaluate_kwargs(args))  # the keywords `quba evaluate` would pass
