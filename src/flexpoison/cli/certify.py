"""``flexpoison certify``: how many poison rows does it take? The points-needed view for
the user's own CSV file (:func:`flexpoison.certify.points_curve`), written as
``points_needed.json`` and ``points_needed.png``, all or nothing."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .. import models
from .common import (
    CONTEXT,
    QUIET,
    check_out_dir,
    data_options,
    echo_warning,
    force_option,
    one_line,
    passes_option,
    seed_option,
    user_errors,
)
from .constraints import FLAGS as CONSTRAINT_FLAGS
from .constraints import check_constraint_options, constraint_options
from .victim import (
    N_SIGMA,
    STANDARDIZE,
    TARGET,
    check_victim_options,
    epsilon_option,
    on_data,
    settings_used,
    test_size_option,
    victim_options,
)

# The library's error messages start with its argument's name; say the option instead.
FLAGS = {
    "n_points": "--n-points",
    "epsilon": "--epsilon",
    "certify_at": "--certify-at",
    "passes": "--passes",
    "target": "--target",
    "theta_target": "--target",
    "n_sigma": "--n-sigma",
    "test_size": "--test-size",
    **CONSTRAINT_FLAGS,
}

HELP = """Certify the fewest poison rows that reach a target model, against two attacks.

    How many poison rows does it take to pull the model to theta_t? The
    points-needed view for FILE.csv.

    The rows are split into train and test (--test-size, --seed; the training rows are
    those of 'flexpoison attack' with the same options). Two attacks add up to
    --n-points rows toward the target model theta_t (--target): flexpoison's own
    (alpha = 0) and Suya et al.'s model-targeted attack (each row the feasible row of
    the largest loss gap at the current model). For every m, each one's
    E_I = ||theta_m - theta_t||^2 (and, for a flip-subpopulation target, the share of
    the subpopulation theta_m misclassifies); the certified lower bound for theta_t
    (no feasible set of fewer rows makes theta_t the victim's optimum); and at the m of
    --certify-at the bound for the model each attack reached, over m: its certified
    efficiency. With --passes above 1, flexpoison's attack is run once per m of
    --certify-at and --n-points instead (its first m rows are then not its m-row
    attack). Writes into DIR: points_needed.json and points_needed.png. Linear
    victims only (not a kernel machine).

    \b
    Example:
      flexpoison certify --data cancer.csv --target-column label --model logistic \\
          --target 'flip-subpopulation:class=1,cluster=3/8' --n-points 40 \\
          --standardize --out runs/cancer-certify
    """


def _grid(ctx, param, value: str | None) -> tuple[int, ...] | None:
    """--certify-at as positive integers (their range is checked by the library)."""
    if value is None:
        return None
    try:
        grid = tuple(int(s) for s in value.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated positive integers, got {value!r}"
        ) from None
    if any(m < 1 for m in grid):
        raise click.BadParameter(f"every m must be at least 1, got {value!r}")
    return grid


@click.command(no_args_is_help=True, context_settings=CONTEXT, help=HELP)
@data_options(required=True)
@victim_options
@TARGET
@click.option(
    "--n-points",
    required=True,
    metavar="INTEGER",
    type=click.IntRange(min=1),
    help="M, the most poison rows: each attack adds M rows, one at a time, and the "
    "curve covers m = 1 ... M (each attack's first m rows are its m-row attack).",
)
@epsilon_option(0.1, "the first such m of each attack is reported.")
@click.option(
    "--certify-at",
    metavar="M,M,...",
    callback=_grid,
    help="The m at which the model each attack reached is certified (about 1-7 s "
    "each, per attack). Default: 1, 2, 4, ... and --n-points.",
)
@passes_option(
    " Here flexpoison's attack only (the model-targeted one has one pass). Above 1, "
    "its curve is one run per m, at the m of --certify-at and --n-points only (by "
    "default 1, 2, 4, ..., --n-points: about 2-3 times the cost of the --n-points run "
    "alone), and its first m within epsilon is the smallest of those m within it."
)
@N_SIGMA
@constraint_options
@test_size_option("and not used: the rest are the training rows the attacks poison.")
@STANDARDIZE
@seed_option("the train/test split and of the flexpoison attack's initial points")
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (created if missing; new or empty unless --force): "
    "points_needed.json and points_needed.png, written together or not at all.",
)
@force_option("points_needed.json and points_needed.png")
@QUIET
def certify(
    data: Path,
    sep: str,
    target_column: str,
    model: str,
    reg: float,
    l1_ratio: float,
    no_intercept: bool,
    target: str | None,
    n_points: int,
    epsilon: float,
    certify_at: tuple[int, ...] | None,
    passes: int,
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
) -> None:
    """The ``certify`` command (its help text is :data:`HELP`)."""
    started = time.perf_counter()
    ctx = click.get_current_context()
    spec = models.get(model)
    _check_options(ctx, spec)
    columns: list[str] = []  # the feature columns' names, for error messages
    with user_errors(FLAGS, columns):
        from ..certify import points_curve
        from ..experiments import Experiment
        from ..reporting.certify import OUTPUT_FILES, plot_points_needed, write_points_curve

        prepared = on_data(ctx, spec, sep, "integrity", columns)
        table, dataset, estimator = prepared.table, prepared.dataset, prepared.estimator
        split, goal, arguments = prepared.split, prepared.goal, prepared.arguments
        names = dataset.feature_names
        curve = points_curve(
            estimator,
            split.X_train,
            split.y_train,
            goal.target,
            n_points,
            epsilon=epsilon,
            certify_at=certify_at,
            n_sigma=n_sigma,
            random_state=seed,
            passes=passes,
            progress=not quiet,
            **arguments,
        )
        curve = _in_data_terms(curve, Experiment(estimator, goal, split))
        label = spec.label(estimator) + (" on standardised features" if standardize else "")
        summary = {
            "data_file": str(data.resolve()),
            "data_sha256": table.sha256,
            "target_column": target_column,
            "feature_names": list(names),
            "model": label,
            "settings": settings_used(ctx, sep, spec),
            "n_train": len(split.y_train),
            "theta_names": models.victim(estimator, split.y_train).theta_names(names),
            **curve.describe(),
            "wall_time_seconds": time.perf_counter() - started,
        }
        figure = plot_points_needed(curve, title=f"{data.name}, {label}")
        try:
            write_points_curve(out, summary, figure)
        except OSError as exc:
            raise click.ClickException(
                f"--out {out}: cannot write the results ({exc.strerror or one_line(exc)})"
            ) from None
    if not quiet:
        _echo_outcome(curve)
    click.echo(f"wrote {', '.join(OUTPUT_FILES)} to {out}")
    for attack in curve.attacks:  # even with --quiet: a failed attack must be seen
        for message in attack.warnings:
            echo_warning(message, "points_needed.json", f"{attack.name}: ")


def _in_data_terms(curve, experiment):
    """``curve`` with its attacks' warnings in the data's units and column names
    (:meth:`flexpoison.experiments.Experiment.in_data_terms`)."""
    from dataclasses import replace

    attacks = tuple(
        replace(attack, warnings=experiment.in_data_terms(attack.warnings))
        for attack in curve.attacks
    )
    return replace(curve, attacks=attacks)


def _echo_outcome(curve) -> None:
    """The bound for θ_t, then per attack the first m within ε and its efficiency."""
    bound = curve.lower_bound
    if bound == float("inf"):
        click.echo("certified: no number of feasible rows makes theta_t the victim's optimum")
    else:
        click.echo(
            f"certified: fewer than {bound:.4g} feasible rows cannot make theta_t the "
            "victim's optimum"
        )
    for attack in curve.attacks:
        last = attack.n_points
        runs = ""
        if attack.passes > 1:
            m_run = ", ".join(str(m) for m in attack.m)
            runs = f" ({attack.passes} passes, run at m = {m_run})"
        if attack.reached_at is None:
            reach = (
                f"not within epsilon = {curve.epsilon:g} in {last} rows{runs} "
                f"(distance {attack.distance[-1]:.3g} of theta_0's)"
            )
        else:
            reach = f"within epsilon = {curve.epsilon:g} of theta_t at m = {attack.reached_at}"
            if runs:
                reach += f", the smallest m run within it{runs}"
        efficiency = ", ".join(
            f"{m:g}: {e:.2f}" for m, e in zip(attack.certified_m, attack.efficiency)
        )
        click.echo(f"{attack.name}: {reach}; certified efficiency at m = {efficiency}")


def _check_options(ctx: click.Context, spec) -> None:
    """Refuse what the view cannot do before anything runs."""
    params = ctx.params
    if not spec.has_theta:
        raise click.UsageError(
            f"--model {params['model']}: a kernel machine has no parameter vector theta "
            "to certify; choose a linear model"
        )
    target = params["target"]
    if target is not None and target.strip().startswith("predict:"):
        raise click.UsageError(
            "--target: a 'predict:' target is not a model theta_t; give a preset or a file"
        )
    if params["frozen"] is not None:
        raise click.UsageError(
            "--frozen: the model-targeted attack's rows range over the box; certify "
            "without frozen columns"
        )
    certify_at = params["certify_at"]
    if certify_at and max(certify_at) > params["n_points"]:
        raise click.UsageError(
            f"--certify-at: {max(certify_at)} is above --n-points {params['n_points']}"
        )
    check_victim_options(ctx, spec)
    check_constraint_options(params)
    check_out_dir(params["out"], params["force"])


__all__ = ["certify"]
