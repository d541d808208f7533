"""The ``graphgrad train``, ``graphgrad babysit`` and ``graphgrad demo`` sub-commands.

The config format is described in ``graphgrad.config`` and docs/training.md;
``examples/configs/digits.toml`` is a complete example.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TRAIN_DESCRIPTION = """\
Train the model a TOML config describes and write a run folder (default
runs/<config name>): checkpoint.npz (atomic, after every epoch or every
[train] checkpoint_every epochs), history.json, curves.png, graph.svg and
graph.dot, model.npz, metrics.json and config.json; curves.png needs matplotlib
and graph.svg Graphviz's `dot` (a missing one only costs its file, with a
note). One line per epoch is printed; a progress bar is shown on a terminal
when tqdm is installed.

  graphgrad train examples/configs/digits.toml
  graphgrad train examples/configs/digits.toml --resume   # continue from it

The config format: docs/training.md ("From the command line: a TOML config");
examples/configs/digits.toml is a complete, commented example to copy. Every
key is checked: a misspelt one is an error that lists the valid keys.

Exits with 0 when training finished, 2 on an error (bad config, NaN loss...)."""

BABYSIT_DESCRIPTION = """\
Run gg.check.babysit on the model a TOML config describes, before training it:
gradient check in float64, initial loss vs chance, overfitting a few samples
([babysit] n_overfit, default 20) with and without regularisation, dead ReLUs,
update/weight ratios and symmetric initialisation, with the config's optimizer
and learning rate, on its training split. With --lr-find a
learning-rate sweep (1e-5 ... 1) follows and suggests a rate.

  graphgrad babysit examples/configs/digits.toml
  graphgrad babysit examples/configs/digits.toml --lr-find --plot lr.png

Exits with 1 if a check failed, 0 otherwise, 2 on an error (bad config...)."""

DEMO_DESCRIPTION = """\
Train an MLP on scikit-learn's bundled 8x8 digits (no download) with
standardisation and augmentation, printing the losses of every epoch and the
final test accuracy (target: 97%; the full run takes well under a minute).
`--model cnn` trains a small convolutional network instead (target: 99%).
`--model lstm` and `--model transformer` train an LSTM or a small causal
transformer to sort generated 8-digit strings (target: 99% held-out token
accuracy; no scikit-learn needed).
Needs scikit-learn, from the `examples` extra: in a graphgrad checkout
  python -m pip install -e ".[examples]"
(or pip install "graphgrad[examples]" where graphgrad is installed already).

  graphgrad demo
  graphgrad demo --quick                  # a few-second smoke run
  graphgrad demo --model cnn              # the CNN: conv, ReLU, max-pool
  graphgrad demo --model lstm             # an LSTM sorts digit strings
  graphgrad demo --model transformer      # a causal transformer, same task
  graphgrad demo --out runs/demo          # also write curves.png, graph.svg...

Exits with 0 when the target accuracy is reached (always with --quick),
1 when it is not, 2 on an error."""


def _cli_error(message: str):
    from graphgrad.cli._common import CLIError

    return CLIError(message)


def _load_run(path: str):
    from graphgrad.config import ConfigError, from_file

    if not Path(path).is_file():
        what = "is a directory, not a config file" if Path(path).is_dir() else "does not exist"
        raise _cli_error(f"no config file at {path!r}: it {what} (working directory: "
                         f"{Path.cwd()}); give the path of a TOML file, e.g. "
                         "examples/configs/digits.toml in the graphgrad repository, "
                         "a complete example to copy")
    try:
        return from_file(path)
    except ConfigError as exc:
        message = str(exc)  # messages about reading the file name it already
        raise _cli_error(message if repr(str(path)) in message else f"{path}: {message}") \
            from exc


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad train``."""
    parser.add_argument("config", metavar="CONFIG.toml", help="the training config")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="run folder (default: runs/<config file name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from DIR/checkpoint.npz up to the configured epochs")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh even if DIR already holds a checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> int:
    # under ``mpiexec -n N`` (N > 1) training is data-parallel automatically (the Trainer's
    # distributed=None default); only rank 0 prints
    from graphgrad import distributed as dist
    if not dist.is_main():
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            return _run_train(args)
    return _run_train(args)


def _run_train(args: argparse.Namespace) -> int:
    """``graphgrad train``: train and write the run folder."""
    from graphgrad.config.runs import train_run

    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    if (out / "checkpoint.npz").exists() and not (args.resume or args.overwrite):
        raise _cli_error(f"{out} already holds a checkpoint; pass --resume to continue it, "
                         "--overwrite to start afresh, or --out DIR for another folder")
    run = _load_run(args.config)
    print(f"training {args.config} -> {out}/", flush=True)
    result = train_run(run, out, resume=args.resume,
                       progress=False if args.no_progress else None)
    history = result.history
    if history.stop_reason:
        print(f"stopped early ({history.stop_reason}) after {result.trainer.epoch} epochs"
              + (f"; best epoch {history.best_epoch + 1} restored"
                 if history.best_epoch is not None else ""))
    if result.test is not None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
        print(f"test: {shown}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {len(result.files)} files to {out}/ in {result.seconds:.1f} s")
    return 0


def add_babysit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad babysit``."""
    parser.add_argument("config", metavar="CONFIG.toml", help="the training config")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--lr-find", action="store_true",
                        help="also sweep learning rates and suggest one")
    parser.add_argument("--plot", metavar="PATH", default=None,
                        help="with --lr-find: save the sweep's curve here (needs matplotlib, "
                             "from the examples extra)")


def run_babysit(args: argparse.Namespace) -> int:
    """``graphgrad babysit``: print the report (and the lr sweep); 1 if a check failed."""
    from graphgrad.check.lr_finder import lr_find

    run = _load_run(args.config)
    report = run.babysit(verbose=not args.json)
    payload = {"babysit": report.to_dict()}
    if args.lr_find:
        name, _, kwargs = run.optimizer_spec()
        if not args.json:
            print()
        sweep = lr_find(run.model, run.loss, run.data.train_loader, name,
                        optimizer_kwargs=kwargs, seed=run.seed, plot=args.plot,
                        verbose=not args.json)
        payload["lr_find"] = sweep.to_dict()
    if args.json:
        print(json.dumps(payload, indent=2))
    return 0 if report.ok else 1


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad demo``."""
    parser.add_argument("--model", choices=("mlp", "cnn", "lstm", "transformer"), default="mlp",
                        help="the MLP (default, target 97%%), a small CNN (target 99%%), or an "
                             "LSTM or a causal transformer sorting digit strings (target 99%% "
                             "held-out token accuracy)")
    parser.add_argument("--quick", action="store_true",
                        help="a few-second smoke run (400 samples, 5 epochs, smaller network)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="number of epochs (default 40; 5 with --quick)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="also write a run folder (history.json, curves.png, graph.svg...)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_demo_command(args: argparse.Namespace) -> int:
    """``graphgrad demo``: 0 if the test accuracy reached the target (or with --quick)."""
    from graphgrad.cli.demo import run_demo
    from graphgrad.config import ConfigError

    if args.epochs is not None and args.epochs < 1:
        raise _cli_error(f"--epochs must be at least 1, got {args.epochs}")
    if args.model == "lstm":  # a generated sequence task, trained step by step (no epochs)
        from graphgrad.cli.demo_lstm import run_lstm_demo

        result = run_lstm_demo(quick=args.quick, seed=args.seed, file=sys.stdout)
        return 0 if args.quick or result["reached"] else 1
    if args.model == "transformer":  # the same task, a causal transformer, compiled step
        from graphgrad.cli.demo_transformer import run_transformer_demo

        result = run_transformer_demo(quick=args.quick, seed=args.seed, file=sys.stdout)
        return 0 if args.quick or result["reached"] else 1
    try:
        result = run_demo(quick=args.quick, epochs=args.epochs, seed=args.seed,
                          out_dir=args.out, progress=False if args.no_progress else None,
                          file=sys.stdout, model=args.model)
    except ConfigError as exc:
        raise _cli_error(str(exc)) from exc
    return 0 if args.quick or result["reached"] else 1
