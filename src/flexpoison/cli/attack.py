"""``flexpoison attack``: craft poison rows for the user's own CSV file.

Reads the file strictly, runs the experiment pipeline (split, optional
standardisation, attack, scikit-learn refits, test metric) and writes
``poison.csv``, ``summary.json`` and two figures into a directory, all or nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from click.core import ParameterSource

from .. import models
from .._validation import MAX_RATE
from ..attack.defaults import (
    DEFAULT_MAX_ITER,
    DEFAULT_STEP,
    DEFAULT_TOL,
    MODEL_TARGETED,
    STEP_RULES,
    STRATEGIES,
)
from ..attack.goals import GOALS
from .common import (
    CONTEXT,
    PASSES,
    QUIET,
    STARTS,
    TOL_HELP,
    TRADE_OFF,
    check_out_dir,
    data_options,
    echo_screenings,
    echo_warning,
    evade_arguments,
    evade_options,
    force_option,
    goal_option,
    one_line,
    seed_option,
    user_errors,
)
from .constraints import FLAGS as CONSTRAINT_FLAGS
from .constraints import (
    check_constraint_options,
    constraint_options,
    integer_columns,
    recorded,
)
from .victim import (
    N_SIGMA,
    STANDARDIZE,
    TARGET,
    check_victim_options,
    epsilon_option,
    has_target,
    on_data,
    settings_used,
    test_size_option,
    victim_options,
)

OUTPUT_FILES = ("poison.csv", "summary.json", "W_first_point.png", "effect_vs_rate.png")

# The attack's error messages start with its argument's name; say the option instead.
FLAGS = {
    "alpha": "--alpha",
    "rate": "--rate",
    "n_points": "--n-points",
    "target": "--target",
    "optimize_y": "--optimize-y",
    "max_iter": "--max-iter",
    "tol": "--tol",
    "n_sigma": "--n-sigma",
    "step": "--step",
    "trade_off": "--trade-off",
    "starts": "--starts",
    "passes": "--passes",
    "evade": "--evade",
    "strategy": "--strategy",
    "epsilon": "--epsilon",
    "test_size": "--test-size",
    **CONSTRAINT_FLAGS,
}


HELP = """Craft poison rows for FILE.csv against a scikit-learn model.

    The rows are split into train and test (--test-size, --seed); the attack adds m
    poison rows to the training split, one at a time, each by projected gradient
    descent on W inside the n-sigma box. Writes into DIR: poison.csv (the poison rows,
    same columns and order as FILE.csv, original units), summary.json (models, effect,
    concealment, test metric before/after, settings, versions, data checksum),
    W_first_point.png and effect_vs_rate.png. DIR must be new or empty unless --force;
    nothing is written outside it. Numbers in poison.csv are the shortest text that
    reads back as the same float.

    \b
    Example:
      flexpoison attack --data ccpp.csv --target-column PE --model {model} \\
          --alpha 0.5 --goal integrity --target flip-top --rate 0.05 --out runs/ccpp
    """.format(model=models.DEFAULT_MODEL["regression"])


@click.command(no_args_is_help=True, context_settings=CONTEXT, help=HELP)
@data_options(required=True, sep_note="poison.csv is written with the same separator.")
@victim_options
@click.option(
    "--alpha",
    metavar="FLOAT",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="The attacker's trade-off in [0, 1]: 0 = effect only, 1 = concealment "
    "only (see --trade-off).",
)
@TRADE_OFF
@STARTS
@PASSES
@goal_option(
    "A victim without theta "
    f"({', '.join(s.name for s in models.REGISTRY.values() if not s.has_theta)}) "
    "takes loss-availability, or integrity with --target 'predict:v@x*'; its theta_* "
    "outputs are its decision values at the goal's rows."
)
@TARGET
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=STRATEGIES[0],
    show_default=True,
    help="How each row is chosen: 'flexpoison' = descent on W from several starts; "
    f"'{MODEL_TARGETED}' = Suya et al.'s online attack toward --target's theta_t "
    "(each row the feasible row of largest loss gap at the model so far; integrity "
    "with a model target, --alpha 0, which is its default, and one pass).",
)
@epsilon_option(
    None, f"with --strategy {MODEL_TARGETED}, stop adding rows once within it (default: add all m)."
)
@click.option(
    "--rate",
    metavar="FLOAT",
    type=click.FloatRange(0, MAX_RATE, min_open=True),
    help="Poisoning rate m / n: poison rows per clean training row; "
    "m = round(rate * n_train). Give exactly one of --rate and --n-points.",
)
@click.option(
    "--n-points",
    type=click.IntRange(min=1),
    metavar="INTEGER",
    help="Number m of poison rows. Give exactly one of --rate and --n-points.",
)
@click.option(
    "--step",
    type=click.Choice(STEP_RULES),
    default=DEFAULT_STEP,
    show_default=True,
    help="Gradient step rule: 'lbfgs' = projected quasi-Newton in the box with a "
    "line search on W (converges in tens of iterations); 'backtracking' = projected "
    "gradient with a line search on W; 'paper' = step 1/i at iteration i (as in the "
    "paper). Only 'paper' may increase W.",
)
@click.option(
    "--max-iter",
    metavar="INTEGER",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ITER,
    show_default=True,
    help="Gradient iterations per descent at most (each start of a poison point).",
)
@click.option(
    "--tol",
    metavar="FLOAT",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TOL,
    show_default=True,
    help=TOL_HELP + "; tol * max(1, |W|) for --trade-off paper).",
)
@click.option(
    "--optimize-y",
    is_flag=True,
    help="Regression only: optimise the poison responses too (within the "
    "observed range), not just the features.",
)
@N_SIGMA
@constraint_options
@test_size_option(
    "to report the test metric before and after poisoning: MSE for regression, "
    "accuracy for classification."
)
@STANDARDIZE
@click.option(
    "--certify",
    is_flag=True,
    help="Integrity: also certify the fewest poison rows that reach the model the attack "
    "reached (Suya et al.'s lower bound, over the same box; a few seconds) and the "
    "efficiency lower bound / m, printed and in summary.json's 'certificate'.",
)
@evade_options
@seed_option("the train/test split and of the attack's initial points")
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (created if missing; new or empty unless --force): "
    "poison.csv, summary.json, W_first_point.png, effect_vs_rate.png, written "
    "together or not at all, each file complete or absent. Nothing is written "
    "outside it.",
)
@force_option("poison.csv, summary.json and the two PNGs")
@QUIET
def attack(
    data: Path,
    sep: str,
    target_column: str,
    model: str,
    reg: float,
    l1_ratio: float,
    no_intercept: bool,
    alpha: float,
    goal: str | None,
    target: str | None,
    rate: float | None,
    n_points: int | None,
    trade_off: str,
    starts: int,
    passes: int,
    step: str,
    max_iter: int,
    tol: float,
    optimize_y: bool,
    n_sigma: float,
    within_range: bool,
    bounds_file: Path | None,
    integer: str | None,
    round_fractional: bool,
    frozen: str | None,
    one_hot: tuple[str, ...],
    test_size: float,
    standardize: bool,
    seed: int,
    out: Path,
    force: bool,
    quiet: bool,
    certify: bool,
    evade: list[str] | None,
    evade_calibration: str,
    strategy: str,
    epsilon: float | None,
) -> None:
    """The ``attack`` command (its help text is :data:`HELP`)."""
    started = time.perf_counter()
    ctx = click.get_current_context()
    spec = models.get(model)
    sep = _check_options(ctx, spec)
    alpha = ctx.params["alpha"]  # 0 by default with --strategy model-targeted
    goal = ctx.params["goal"]  # resolved: the victim's default when none is named
    columns: list[str] = []  # the feature columns' names, for error messages
    with user_errors(FLAGS, columns):
        from ..experiments import Experiment, configured_attack
        from ..reporting import attack as report

        prepared = on_data(ctx, spec, sep, goal, columns)
        table, dataset, estimator = prepared.table, prepared.dataset, prepared.estimator
        split, feature_names = prepared.split, dataset.feature_names
        constraints, X = prepared.constraints, dataset.X
        experiment = Experiment(estimator, prepared.goal, split)
        arguments = {**prepared.arguments, **evade_arguments(ctx.params)}
        progress = not quiet  # a bar on a terminal, plain lines in a log
        attack = configured_attack(
            ctx.params,
            alpha=alpha,
            random_state=seed,
            progress=progress,
            strategy=_strategy(strategy, epsilon),
        )
        attacker = experiment.configure(attack, **arguments)
        measured = experiment.run(attacker, certify=certify)
        result = measured.result
        label = spec.label(estimator)
        if standardize:
            label = f"StandardScaler + {label}"
        summary = {
            "data_file": str(data.resolve()),
            "data_sha256": table.sha256,
            "target_column": target_column,
            "feature_names": list(feature_names),
            "model": label,
            "settings": settings_used(ctx, sep, spec),
            "seed": seed,
            "n_rows": len(table.rows),
            "attack_space": "standardized" if standardize else "original",
            **_measured(experiment, measured, feature_names),
            "certificate": None if result.certificate is None else result.certificate.describe(),
            "screenings": [s.describe() for s in result.screenings],
        }
        figures = report.figures(result, experiment.goal, alpha, f"{data.name}, {label}")
        summary["wall_time_seconds"] = time.perf_counter() - started
        rows = recorded(split.to_data_units(result.X_poison), constraints, X, feature_names)
        poison = _poison_rows(table.columns, target_column, feature_names, rows, result.y_poison)
        _write(out, table.columns, poison, sep, summary, figures, integer_columns(constraints))
    if not quiet:
        _echo_outcome(measured, summary, alpha)
        if strategy == MODEL_TARGETED:
            _echo_reach(result, epsilon)
    click.echo(f"wrote {', '.join(OUTPUT_FILES)} to {out}")
    for message in measured.warnings:  # even with --quiet: a failed attack must be seen
        echo_warning(message, "summary.json")


# ------------------------------------------------------------------------- helpers


def _write(out, columns, poison, sep, summary, figures, integers) -> None:
    """poison.csv (the data file's columns and order), summary.json and the figures,
    written together into ``--out``; an OS error is one line naming it."""
    from ..reporting import attack as report

    try:
        report.write_attack(out, columns, poison, sep, summary, figures, integer_columns=integers)
    except OSError as exc:
        raise click.ClickException(
            f"--out {out}: cannot write the results ({exc.strerror or one_line(exc)})"
        ) from None


def _echo_outcome(measured, summary: dict, alpha: float) -> None:
    """What the attack did, in three lines: the rows added, E and the test metric
    before and after, and the share of the α = 0 attack's change kept."""
    result = measured.result
    click.echo(
        f"{result.n_points} poison rows against {result.n_clean} training "
        f"rows (rate {summary['rate']:.4g})"
    )
    click.echo(
        f"{summary['effect_name']}: {result.effect_clean:.4g} -> "
        f"{result.effect_history[-1]:.4g}; {summary['metric_name']}: "
        f"{summary['test_metric_clean']:.4g} -> {summary['test_metric_poisoned']:.4g}"
    )
    if result.effect_unconcealed is not None:
        full = result.effect_clean - result.effect_unconcealed
        kept = (result.effect_clean - result.effect_history[-1]) / full if full else 0.0
        click.echo(
            f"alpha = {alpha:g} kept {kept:.1%} of the alpha = 0 attack's change of "
            f"{summary['effect_name']} ({result.effect_clean:.4g} -> "
            f"{result.effect_unconcealed:.4g})"
        )
    if result.certificate is not None:
        click.echo(f"certificate: {result.certificate.line()}")
    echo_screenings(result)


def _echo_reach(result, epsilon: float | None) -> None:
    """How close the model-targeted rows came to theta_t, ||theta - theta_t|| over
    ||theta_0 - theta_t|| (sqrt of E_I's ratio), and whether within --epsilon."""
    first, last = result.effect_clean, result.effect_history[-1]
    share = (last / first) ** 0.5 if first > 0 else 0.0
    line = f"{MODEL_TARGETED}: ||theta - theta_t|| is {share:.3g} of the clean model's"
    if epsilon is not None:
        within = "within" if share <= epsilon else "not within"
        line += f", {within} epsilon = {epsilon:g} after {result.n_points} rows"
    click.echo(line)


def _measured(experiment, measured, feature_names) -> dict:
    """summary.json's record of one measured attack (the result record,
    :mod:`flexpoison.experiments.record`), and beside it the versions, the victim,
    θ's names, scikit-learn's θ_p, the per-point reports and the box (in the data's
    units)."""
    import numpy as np

    from ..experiments.record import of_result

    result, split, spec = measured.result, experiment.split, experiment.victim.spec
    return {
        **of_result(
            result,
            "attack",
            task=spec.task,
            effect_name=experiment.goal.effect_name,
            metric_name=spec.metric.name,
            n_test=len(split.y_test),
            test_metric_clean=measured.metric_before,
            test_metric_poisoned=measured.metric_after,
            warnings=list(measured.warnings),
            seconds=measured.seconds,
        ),
        "flexpoison_version": _version(),
        "numpy_version": np.__version__,
        "scikit_learn_version": _sklearn_version(),
        "classes": experiment.victim.classes,
        "theta_names": experiment.theta_names(feature_names),
        "theta_poisoned_sklearn": experiment.public(measured.theta_after),
        "points": [
            {
                "iterations": p.n_iter,
                "stop": p.stop,
                "start": p.start,
                "effect_before": p.effect_before,
                "effect_after": p.effect_after,
                "harmless": p.harmless,
                "path": p.path,
                "repaired": p.repaired,
            }
            for p in result.points
        ],
        "x_c": split.to_data_units(result.x_c[None, :])[0],
        "box_lower": split.to_data_units(result.lower[None, :])[0],
        "box_upper": split.to_data_units(result.upper[None, :])[0],
    }


def _check_options(ctx: click.Context, spec) -> str:
    """Refuse option combinations that make no sense; return the separator to use."""
    params = ctx.params
    if (params["rate"] is None) == (params["n_points"] is None):
        raise click.UsageError("give exactly one of --rate and --n-points")
    model = params["model"]
    if params["goal"] is None:  # the victim's default (models.ModelSpec.default_goal)
        params["goal"] = spec.default_goal
    problem = spec.goal_problem(params["goal"], params["target"])
    if problem is not None:
        raise click.UsageError(f"--model {model}: {problem}")
    if params.get("certify") and not has_target(params["goal"]):
        raise click.UsageError(
            "--certify applies to --goal integrity only (it bounds the rows that reach "
            "a target model)"
        )
    if params["target"] is not None and not has_target(params["goal"]):
        with_target = [name for name in GOALS if has_target(name)]
        raise click.UsageError(
            f"--target applies to --goal {' or '.join(with_target)} only (--goal "
            f"{params['goal']} has no target model)"
        )
    _check_strategy(ctx)
    check_victim_options(ctx, spec)
    check_constraint_options(params)
    if params["optimize_y"] and spec.task != "regression":
        raise click.UsageError(
            "--optimize-y applies to regression models only (class "
            f"labels of --model {model} poison rows are flipped "
            "instead)"
        )
    sep = params["sep"]  # one character: checked by its callback (common.data_options)
    out = params["out"].absolute()
    ancestor = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise click.UsageError(f"--out: cannot write into {ancestor}")
    check_out_dir(params["out"], params["force"])
    return sep


def _check_strategy(ctx: click.Context) -> None:
    """Refuse what --strategy model-targeted cannot do (crafting.check_strategy, said in
    options) before any work; without --alpha it runs at alpha 0."""
    params = ctx.params
    if params["strategy"] != MODEL_TARGETED:
        if params["epsilon"] is not None:
            raise click.UsageError(f"--epsilon applies to --strategy {MODEL_TARGETED} only")
        return
    if ctx.get_parameter_source("alpha") is ParameterSource.DEFAULT:
        params["alpha"] = 0.0
    target = (params["target"] or "").strip()
    needs = None
    if not has_target(params["goal"]) or target.startswith("predict:"):
        needs = "--goal integrity with a model target theta_t (a preset or a file, not 'predict:')"
    elif params["alpha"] != 0:
        needs = "--alpha 0 (it has no concealment term)"
    elif params["passes"] != 1:
        needs = "--passes 1 (it adds each row once)"
    elif params["frozen"] is not None:
        needs = "no --frozen columns (its rows range over the box)"
    elif params["evade"]:
        needs = "no --evade (its rows do not see the sanitizers)"
    if needs is not None:
        raise click.UsageError(f"--strategy {MODEL_TARGETED}: needs {needs}")


def _strategy(name: str, epsilon: float | None):
    """The attack's ``strategy`` for --strategy NAME (None: its own descent)."""
    if name != MODEL_TARGETED:
        return None
    from ..certify import ModelTargeted

    return ModelTargeted(epsilon=epsilon or 0.0)


def _poison_rows(
    columns: tuple[str, ...], target: str, features: tuple[str, ...], X_poison, y_poison
) -> list[list]:
    """Poison rows in the input file's column order, the target in its place."""
    where = {name: k for k, name in enumerate(features)}
    return [
        [y_i if name == target else x_i[where[name]] for name in columns]
        for x_i, y_i in zip(X_poison, y_poison)
    ]


def _version() -> str:
    from .. import __version__

    return __version__


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


__all__ = ["attack", "OUTPUT_FILES"]
