"""``flexpoison frontier``: the effect–concealment frontier against real sanitizers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import models
from .._validation import MAX_RATE
from ..attack.goals import GOALS
from ..data.loaders import DATASETS
from .common import CONTEXT, PASSES, STARTS, TRADE_OFF, user_errors

if TYPE_CHECKING:
    from ..attack import TradeOff

DEFAULT_ALPHAS = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1"
MODEL_HELP = "; ".join(
    f"{spec.name} = {spec.default_label} ({spec.task})" for spec in models.REGISTRY.values()
)
DEFAULT_HELP = ", ".join(f"{name} for {task}" for task, name in models.DEFAULT_MODEL.items())

# flexpoison's error messages start with the argument's name; say the option instead.
FLAGS = {
    "model": "--model",
    "goal": "--goal",
    "rate": "--rate",
    "alphas": "--alphas",
    "alpha": "--alphas",
    "seed": "--seed",
    "max_iter": "--max-iter",
    "tol": "--tol",
    "trade_off": "--trade-off",
    "starts": "--starts",
    "passes": "--passes",
    "report": "--report",
    "dataset": "--dataset",
}


def _alphas(ctx, param, value: str) -> tuple[float, ...]:
    parts = [s.strip() for s in value.split(",")]
    try:
        alphas = tuple(float(s) for s in parts if s)
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers in [0, 1], got {value!r}"
        ) from None
    if not alphas:
        raise click.BadParameter("give at least one α")
    bad = [a for a in alphas if not 0.0 <= a <= 1.0]  # also catches NaN
    if bad or any(a != a for a in alphas):
        raise click.BadParameter(f"every α must lie in [0, 1], got {value!r}")
    if len(set(alphas)) != len(alphas):
        raise click.BadParameter(f"repeated α in {value!r}")
    return alphas


def _dataset(ctx, param, value: str) -> str:
    name = value.strip().lower().replace("-", "_")
    if name not in DATASETS:
        raise click.BadParameter(f"unknown data set {value!r}; choose from " + ", ".join(DATASETS))
    return name


@click.command(context_settings=CONTEXT)
@click.option(
    "--dataset",
    required=True,
    callback=_dataset,
    metavar="NAME",
    help="Data set: " + ", ".join(DATASETS) + " (split 70/30 with --seed, "
    "features standardised on the training split).",
)
@click.option(
    "--model",
    type=click.Choice(models.MODEL_NAMES),
    default=None,
    help="The victim: " + MODEL_HELP + ". Default: " + DEFAULT_HELP + ".",
)
@click.option(
    "--goal",
    type=click.Choice(tuple(GOALS)),
    default="integrity",
    show_default=True,
    help="integrity: E_I = ||theta - theta_t||^2 with the victim's default target "
    "preset (lower = more damage); availability: E_A = ||theta - "
    "theta_0||^2; loss-availability: E_L = the victim's mean loss on the "
    "clean training rows (higher = more damage for both).",
)
@click.option(
    "--rate",
    type=click.FloatRange(0, MAX_RATE, min_open=True),
    default=0.1,
    show_default=True,
    help="Poisoning rate: every attack adds m = round(rate * n) rows to the n clean training rows.",
)
@click.option(
    "--alphas",
    default=DEFAULT_ALPHAS,
    show_default=True,
    callback=_alphas,
    metavar="A,B,...",
    help="The flexible attack's alpha grid (each in [0, 1]; 0 = effect only, "
    "1 = concealment only).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the split, of the attacks' initial rows and of the baselines.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FLEXPOISON_DATA_DIR",
    show_envvar=True,
    help="Folder holding ccpp/Folds5x2_pp.csv and airquality/AirQualityUCI.csv. "
    "Without it: the user cache, then a download from UCI.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory for frontier.csv, frontier.json, frontier.html and "
    "the PNGs, written all at once at the end. Default: "
    "flexpoison-out/frontier-DATASET-MODEL-GOAL (beside the report of "
    "'flexpoison reproduce').",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Gradient iterations per poison point at most (flexible attack and "
    "the unconcealed baseline).",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-6,
    show_default=True,
    help="Stop a poison point when W changes by less than tol·max(1, |W|) "
    "(flexible attack and the unconcealed baseline).",
)
@TRADE_OFF
@STARTS
@PASSES
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An existing report.html (from 'flexpoison reproduce') to insert a "
    "Frontier section into. Default: OUT/../report.html, if it exists.",
)
@click.option(
    "--quiet",
    is_flag=True,
    help="No progress bar and no summary table (the last line is still printed).",
)
def frontier(
    dataset: str,
    model: str,
    goal: str,
    rate: float,
    alphas: tuple[float, ...],
    seed: int,
    data_dir: Path | None,
    out: Path | None,
    max_iter: int,
    tol: float,
    trade_off: TradeOff,
    starts: int,
    passes: int,
    report: Path | None,
    quiet: bool,
) -> None:
    """Measure concealment against real sanitizers: the effect-concealment frontier.

    For each alpha of the grid the flexible attack crafts m poison rows; the random
    clone, label flip and unconcealed (alpha = 0 in the data's range) baselines add
    m rows too. Each poisoned training set then goes through every sanitizer (3-sigma,
    sphere, slab, IsolationForest, LOF, loss filter, and TRIM for regression), each
    calibrated on the clean training rows; the victim is refitted on the rows kept.
    Written per (attack, sanitizer): the share of poison caught, the share of clean
    rows removed, the effect left and the test MSE / accuracy; plus one PNG per
    sanitizer (effect left vs share caught) and an overview; and each attack's poison
    rows in the data set's units (poison_*.csv).
    """
    if report is not None and not report.is_file():
        raise click.ClickException(
            f"--report: {report} does not exist (give the "
            "report.html written by 'flexpoison reproduce')"
        )
    start = time.perf_counter()
    with user_errors(FLAGS):
        from ..experiments.frontier import run_frontier
        from ..reporting.frontier import write_frontier

        result = run_frontier(
            dataset,
            model=model,
            goal=goal,
            rate=rate,
            alphas=alphas,
            seed=seed,
            max_iter=max_iter,
            tol=tol,
            trade_off=trade_off,
            starts=starts,
            passes=passes,
            data_dir=data_dir,
            progress=False if quiet else None,
        )
        if out is None:
            out = Path("flexpoison-out") / f"frontier-{dataset}-{result.settings.model}-{goal}"
        written = write_frontier(result, out, report=report)
    if not quiet:
        click.echo(_table(result))
    s = result.settings
    tail = f"; report updated: {written.report}" if written.report else ""
    click.echo(
        f"frontier: {len(result.attacks)} attacks x {len(s.sanitizers) - 1} "
        f"sanitizers, m = {s.n_poison} poison rows; files in {written.out_dir}"
        f"{tail} ({time.perf_counter() - start:.1f} s)"
    )
    for p in result.attacks:  # even with --quiet: a failed attack must be seen
        for message in p.warnings:
            click.echo(f"warning: {p.label}: {message}", err=True)


def _table(result) -> str:
    """Recall / effect left per attack (rows) and sanitizer (columns), as text."""
    s = result.settings
    names = list(s.sanitizers)
    width = max(10, *(len(n) for n in names))
    head = f"{'attack':<32}" + "".join(f"{n:>{width + 8}}" for n in names)
    lines = [
        f"{s.effect_name} after sanitising (share of poison caught); no attack: "
        f"{s.effect_name} = {result.effect_clean:.4g}",
        head,
    ]
    for p in result.attacks:
        cells = []
        for n in names:
            r = result.row(p.attack, n, p.alpha)
            cells.append(f"{r.effect:.4g} ({r.recall:.0%})".rjust(width + 8))
        lines.append(f"{p.label:<32}" + "".join(cells))
    return "\n".join(lines)


__all__ = ["frontier"]
