"""The [sweep] table without Ray: parsing, the "did you mean" errors, overrides, the
best-config TOML, the config reader accepting [sweep], and the missing-extra message."""

from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

import pytest

import graphgrad as gg
from graphgrad.cli import main
from graphgrad.config import ConfigError, build_run, load_config
from graphgrad.sweep import parse_sweep, prepare
from graphgrad.sweep.results import to_toml
from graphgrad.sweep.space import apply_overrides

pytestmark = pytest.mark.sweep
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "configs" / "digits_sweep.toml"


@pytest.fixture
def config():
    return load_config(EXAMPLE)


def test_the_example_config_parses_and_trains_as_a_plain_config(config):
    settings = parse_sweep(config)
    assert settings.keys == ["optimizer.lr", "optimizer.momentum", "model.layers.0.out_features"]
    assert (settings.metric, settings.mode, settings.search) == ("val_accuracy", "max", "random")
    assert (settings.scheduler, settings.grace_period, settings.reduction_factor) == ("asha", 2, 2)
    run = build_run(config, EXAMPLE.parent)  # `graphgrad train` ignores [sweep]
    assert run.epochs == 8


def test_prepare_reports_the_metrics_a_trial_reports(config):
    _, _, name, settings = prepare(EXAMPLE)
    assert name == "digits_sweep" and settings.trials == 12


def test_overrides_set_dotted_keys_and_their_also_keys(config):
    settings = parse_sweep(config)
    out = apply_overrides(config, {"optimizer.lr": 0.2, "model.layers.0.out_features": 32},
                          settings.space)
    assert out["optimizer"]["lr"] == 0.2 and "sweep" not in out
    assert out["model"]["layers"][0]["out_features"] == 32
    assert out["model"]["layers"][2]["in_features"] == 32
    assert config["optimizer"]["lr"] == 0.05  # the original is untouched
    model = build_run(out, EXAMPLE.parent).model
    assert model(gg.tensor(__import__("numpy").zeros((3, 64), "float32"))).shape == (3, 10)


def _with(config, space=None, **sweep):
    config = copy.deepcopy(config)
    config["sweep"].update(sweep)
    if space is not None:
        config["sweep"]["space"] = space
    return config


BAD = [
    ({"trails": 4}, None, "[sweep]: unknown key(s) ['trails']", "did you mean 'trials'"),
    ({}, {"optimiser.lr": {"uniform": [0.1, 0.2]}}, "has no key 'optimiser'",
     "did you mean 'optimizer'"),
    ({}, {"optimizer.lrr": {"uniform": [0.1, 0.2]}}, "unknown key(s) ['lrr']",
     "did you mean 'lr'"),
    ({}, {"model.layers.7.out_features": {"choice": [8]}}, "has 3 entries (0..2), there is no 7",
     ""),
    ({}, {"model.layers.first.out_features": {"choice": [8]}}, "index it with a number", ""),
    ({}, {"optimizer.lr": {"logunifrom": [1e-3, 0.1]}}, "unknown key(s) ['logunifrom']",
     "did you mean 'loguniform'"),
    ({}, {"optimizer.lr": {"loguniform": [0.0, 0.1]}}, "loguniform needs low > 0", ""),
    ({}, {"optimizer.lr": {"uniform": [0.3, 0.1]}}, "uniform needs low < high", ""),
    ({}, {"optimizer.lr": {"uniform": [0.1]}}, "needs [low, high]", ""),
    ({}, {"data.batch_size": {"randint": [8.5, 64]}}, "randint needs two integers", ""),
    ({}, {"optimizer.lr": {"choice": []}}, "choice needs a non-empty list", ""),
    ({}, {"optimizer.lr": {"choice": [0.1], "uniform": [0.1, 0.2]}}, "exactly one distribution",
     ""),
    ({}, {"optimizer.lr": 0.1}, "must be a table with one distribution", ""),
    ({}, {"optimizer.lr": {"grid": [0.1, 0.2]}}, "which needs search = 'grid'", ""),
    ({"search": "grid"}, {"optimizer.lr": {"uniform": [0.1, 0.2]}}, "are ranges", ""),
    ({"search": "grid", "trials": 3}, {"optimizer.lr": {"grid": [0.1, 0.2]}},
     "2 here; trials = 3 does not match", ""),
    ({"search": "bayes"}, None, "search: unknown 'bayes'", "choose one of"),
    ({"scheduler": "ashaa"}, None, "scheduler: unknown 'ashaa'", "did you mean 'asha'"),
    ({"scheduler": {"type": "asha", "grace_periods": 1}}, None, "unknown key(s) ['grace_periods']",
     "did you mean 'grace_period'"),
    ({"mode": "maximum"}, None, "mode must be 'min' or 'max'", "did you mean 'max'"),
    ({"metric": "val_acuracy"}, None, "metric 'val_acuracy' is not reported",
     "did you mean 'val_accuracy'"),
    ({"trials": 0}, None, "trials must be a positive integer", ""),
    ({}, {"model.layers.0.out_features": {"choice": [32, 64]}}, "fails on a batch",
     "add also = ['model.layers.N.in_features']"),
    ({}, {"optimizer.momentum": {"uniform": [0.5, 0.9]}, "optimizer.lr": {"choice": ["fast"]}},
     "the trial with", ""),
]


@pytest.mark.parametrize("sweep,space,message,hint", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_spaces_fail_before_any_trial_with_clear_errors(config, sweep, space, message, hint):
    with pytest.raises(ConfigError) as info:
        prepare(_with(config, space, **sweep))
    assert message in str(info.value)
    assert hint in str(info.value)


def test_a_grid_search_runs_every_combination(config):
    space = {"optimizer.lr": {"grid": [0.1, 0.2]}, "model.layers.0.out_features":
             {"choice": [16, 32, 64], "also": ["model.layers.2.in_features"]}}
    grid = _with(config, space, search="grid")
    del grid["sweep"]["trials"]  # a grid's size is its number of trials
    assert parse_sweep(grid).trials == 6


def test_the_best_config_toml_round_trips(config):
    text = to_toml(config, header="a comment\nover two lines")
    assert text.startswith("# a comment\n# over two lines\n")
    assert tomllib.loads(text) == config
    odd = {"a": {"b c": [1, 2.5, True, "x\"y"], "inf": float("inf"), "nested": {"k": "v"}}}
    assert tomllib.loads(to_toml(odd)) == odd


def test_sweep_without_the_extra_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["sweep", str(EXAMPLE)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Ray Tune, which is not installed" in err
    assert 'pip install -e ".[sweep]"' in err
    with pytest.raises(ImportError, match=r"\.\[sweep\]"):
        gg.sweep(str(EXAMPLE))


def test_gg_sweep_is_the_function_whatever_was_imported_first():
    import graphgrad.sweep.space  # noqa: F401 - rebinds the attribute graphgrad.sweep

    assert callable(gg.sweep)
    from graphgrad.sweep import sweep

    assert callable(sweep) and sweep.__name__ == "sweep"


def test_cli_usage_errors(capsys):
    pytest.importorskip("ray")
    assert main(["sweep"]) == 2
    assert "give a CONFIG.toml" in capsys.readouterr().err
    assert main(["sweep", str(EXAMPLE), "--trials", "0"]) == 2
    assert "--trials must be at least 1" in capsys.readouterr().err
    assert main(["sweep", "nope.toml"]) == 2
    assert "no config file at 'nope.toml'" in capsys.readouterr().err


def test_ci_runs_the_readme_test_command_which_installs_the_sweep_extra():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python -m pip install -e ".[test,examples,sweep]" && python -m pytest'
    assert command in readme.splitlines() and command in ci.splitlines()


def test_each_distribution_becomes_its_tune_domain_and_searcher(config, monkeypatch):
    tune = pytest.importorskip("ray.tune")
    pytest.importorskip("optuna")
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch
    from ray.tune.search.sample import Categorical, Float, Integer

    from graphgrad.sweep.tune import param_space, search_algorithm

    space = {"optimizer.lr": {"loguniform": [1e-3, 0.3]},
             "optimizer.momentum": {"uniform": [0.5, 0.9]},
             "data.batch_size": {"randint": [16, 65]},
             "model.layers.0.out_features": {"choice": [32, 64],
                                             "also": ["model.layers.2.in_features"]}}
    settings = parse_sweep(_with(config, space, search="optuna", max_concurrent=3))
    domains = param_space(settings)
    lr, momentum, batch, width = (domains[k] for k in space)
    assert isinstance(lr, Float) and (lr.lower, lr.upper) == (1e-3, 0.3)
    assert isinstance(lr.get_sampler(), Float._LogUniform)
    assert isinstance(momentum, Float) and isinstance(momentum.get_sampler(), Float._Uniform)
    assert isinstance(batch, Integer) and (batch.lower, batch.upper) == (16, 65)
    assert isinstance(width, Categorical) and width.categories == [32, 64]
    searcher = search_algorithm(settings)
    assert isinstance(searcher, ConcurrencyLimiter) and searcher.max_concurrent == 3
    assert isinstance(searcher.searcher, OptunaSearch)
    grid = parse_sweep(_with(config, {"optimizer.lr": {"choice": [0.1, 0.2]}}, search="grid",
                             trials=2))
    assert param_space(grid)["optimizer.lr"] == tune.grid_search([0.1, 0.2])
    assert isinstance(search_algorithm(grid), BasicVariantGenerator)
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"search = 'optuna' needs optuna .*\.\[sweep\]"):
        search_algorithm(settings)
