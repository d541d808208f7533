"""The ``graphgrad sweep`` sub-command: a hyperparameter sweep of a TOML config on Ray Tune."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphgrad.cli._common import CLIError

DESCRIPTION = """\
Run the hyperparameter sweep the [sweep] table of a training config describes,
on Ray Tune: each trial trains the config with its own values of the
[sweep.space] keys, reports its metrics every epoch (so ASHA can stop bad
trials early) and saves graphgrad checkpoints. Every key and distribution is
checked before any trial starts. Without --address a local Ray sized to this
machine is started (and stopped at the end); --address auto or
--address ray://HOST:PORT runs the same config on an existing cluster
(`ray start --head` on its head node).

The sweep folder (default sweeps/<config name>) gets results.csv and
results.txt (the trials, best first), hyperparameters.png and curves.png,
best_config.toml (ready for `graphgrad train`) and best_checkpoint.npz.
Ctrl-C stops cleanly; --resume DIR continues without rerunning finished trials.

  graphgrad sweep examples/configs/digits_sweep.toml
  graphgrad sweep examples/configs/digits_sweep.toml --trials 8 --address auto
  graphgrad sweep --resume sweeps/digits_sweep
  graphgrad train sweeps/digits_sweep/best_config.toml

Needs the sweep extra (Ray Tune, optuna): python -m pip install -e ".[sweep]".
The [sweep] table: docs/sweeps.md; examples/configs/digits_sweep.toml is a
complete example.

Exits with 0 when the sweep finished, 1 when every trial failed (the first
errors are printed), 2 on an error (bad config or space, no Ray, unreachable
cluster), 130 after Ctrl-C (the folder can be resumed)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad sweep``."""
    parser.add_argument("config", metavar="CONFIG.toml", nargs="?", default=None,
                        help="the training config with a [sweep] table")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="sweep folder (default: sweeps/<config file name>)")
    parser.add_argument("--resume", metavar="DIR", default=None,
                        help="continue the interrupted sweep in DIR")
    parser.add_argument("--address", default=None,
                        help="an existing Ray cluster: auto or ray://HOST:PORT (default: start "
                             "a local Ray)")
    parser.add_argument("--trials", type=int, default=None, metavar="N",
                        help="number of trials (replaces [sweep] trials)")
    parser.add_argument("--max-concurrent", type=int, default=None, metavar="N",
                        help="at most N trials at once (replaces [sweep] max_concurrent)")
    parser.add_argument("--quiet", action="store_true", help="no progress table while it runs")


def run(args: argparse.Namespace) -> int:
    """``graphgrad sweep``: run (or resume) the sweep, print the table; see DESCRIPTION."""
    try:
        import graphgrad.sweep.runner as runner
        from graphgrad.sweep.tune import require_ray

        require_ray()
    except ImportError as exc:
        raise CLIError(str(exc)) from exc
    from graphgrad.config import ConfigError

    if (args.config is None) == (args.resume is None):
        raise CLIError("give a CONFIG.toml to start a sweep, or --resume DIR to continue "
                         "one (not both)")
    for flag in ("trials", "max_concurrent"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise CLIError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    verbose = 0 if args.quiet else 1
    try:
        if args.resume is not None:
            print(f"resuming the sweep in {args.resume}/", flush=True)
            results = runner.resume(args.resume, address=args.address)
        else:
            out = Path(args.out) if args.out else Path("sweeps") / Path(args.config).stem
            print(f"sweeping {args.config} -> {out}/", flush=True)
            results = runner.sweep(args.config, trials=args.trials, address=args.address,
                                   out=out, max_concurrent=args.max_concurrent, verbose=verbose)
    except ConfigError as exc:
        raise CLIError(str(exc)) from exc
    except runner.SweepFailedError as exc:
        print(exc.results.table())
        print(f"graphgrad sweep: {exc}", file=sys.stderr)
        return 1
    print()
    print(results.table())
    for trial, error in results.errors.items():
        print(f"trial {trial} failed: {error}")
    if results.interrupted:
        print(f"interrupted: continue with graphgrad sweep --resume {results.folder}")
        return 130
    if results.best_trial is None:
        print(f"no trial reported a finite {results.metric}; see {results.folder}/results.csv")
        return 1
    print(f"best {results.metric}: {results.best_value:.4g} (trial {results.best_trial})")
    print(f"wrote {len(results.files)} files to {results.folder}/; train the best config with "
          f"graphgrad train {results.best_config_path}")
    return 0
