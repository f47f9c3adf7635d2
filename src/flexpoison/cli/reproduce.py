"""``flexpoison reproduce``: the paper's section V, end to end, in one command."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .._validation import MAX_RATE
from ..data.loaders import DATASETS
from ..scalers import FIXED_SCALER, REFITTED_SCALER
from .common import CONTEXT, DATA_DIR, QUIET, check_out_dir, force_option, seed_option, user_errors

#: What --quick changes: fewer gradient iterations per point, a looser stop.
QUICK: dict[str, float] = {"max_iter": 20, "tol": 1e-4}
FULL: dict[str, float] = {"max_iter": 100, "tol": 1e-6}


def _check_files(datasets: tuple[str, ...], data_dir: Path | None) -> None:
    """Every UCI file asked for, found before anything runs (downloaded into the cache
    where that is allowed); else one error naming every missing file, where the folder
    came from, where to get each file, and the data sets that need none. With a folder
    (--data-dir or $FLEXPOISON_DATA_DIR) the folder and the remedy are said once, then
    each file's path in it and where it comes from."""
    from ..data import DataError
    from ..data.uci import REGISTRY, find_file, where_to_get

    source = click.get_current_context().get_parameter_source("data_dir")
    origin = (
        "$FLEXPOISON_DATA_DIR" if source == click.core.ParameterSource.ENVIRONMENT else "--data-dir"
    )
    missing, errors = [], []
    for name in datasets:
        if name in REGISTRY:
            try:
                find_file(name, data_dir=data_dir, download=True, origin=origin)
            except DataError as exc:
                missing.append(REGISTRY[name])
                errors.append(str(exc))
    if not missing:
        return
    needless = [name for name in DATASETS if name not in REGISTRY]
    tail = f" (--datasets {','.join(needless)} needs no files: scikit-learn ships them.)"
    if data_dir is None:  # the cache and the download: each file's own story
        raise DataError(" ".join(errors) + tail)
    absent = "" if data_dir.is_dir() else ", which does not exist"
    files = "; ".join(
        f"{entry.path} ({entry.title}: {where_to_get(entry).removeprefix('It is ')[:-1]})"
        for entry in missing
    )
    count = f"{len(missing)} data file{'s' if len(missing) > 1 else ''}"
    raise DataError(
        f"{count} not found in {data_dir}{absent} (the folder comes from {origin}): "
        f"{files}. Put each file at its path in that folder.{tail}"
    )


def _datasets(ctx, param, value: str) -> tuple[str, ...]:
    names = tuple(
        dict.fromkeys(  # de-duplicated, in the order given
            s.strip().lower().replace("-", "_") for s in value.split(",") if s.strip()
        )
    )
    unknown = [n for n in names if n not in DATASETS]
    if not names or unknown:
        raise click.BadParameter(
            f"unknown data set(s) {unknown or value!r}; choose from " + ", ".join(DATASETS)
        )
    return names


HELP = f"""Reproduce the paper's Figures 3-6 from real data, and judge its claims.

    For each data set (CCPP and Air Quality: L2-regularised least squares with
    alpha = 1, the paper's "linear regression"; Iris: multinomial and breast cancer:
    binary L2 logistic regression with C = 1) and for alpha in {{0.5, 0}}: a 70/30
    split; an integrity attack up to --max-rate; figures (a) W vs iteration and (b)
    E_I vs poisoning rate, test MSE / accuracy vs rate, the numbers behind each figure
    as CSV, a JSON summary and a self-contained report.html stating whether each of
    the paper's claims holds in this run. The output directory must be new or empty
    unless --force.

    The features are standardised with {FIXED_SCALER}. Not the victim of
    {REFITTED_SCALER}.
    """


@click.command(context_settings=CONTEXT, help=HELP)
@click.option(
    "--quick",
    is_flag=True,
    help=f"A faster run for a first look: at most {QUICK['max_iter']} gradient "
    f"iterations per point and a stop at |ΔW| < {QUICK['tol']:g}·|W| "
    f"(full run: {FULL['max_iter']} and {FULL['tol']:g}). Same data, "
    "split, rates and figures.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("flexpoison-out"),
    show_default=True,
    help="Directory for report.html, summary.json, claims.csv and one folder "
    "per data set, written all at once when the run has finished; new or empty "
    "unless --force. Nothing is written outside it.",
)
@click.option(
    "--datasets",
    "datasets",
    default=",".join(DATASETS),
    show_default=True,
    callback=_datasets,
    help="Comma-separated data sets to run.",
)
@DATA_DIR
@click.option(
    "--max-rate",
    type=click.FloatRange(0, MAX_RATE, min_open=True),
    default=0.2,
    show_default=True,
    help="Largest poisoning rate m/n; every rate below it is measured on the "
    "way (points are crafted one at a time).",
)
@seed_option("the 70/30 split and of the attack's initial points")
@click.option(
    "--step",
    type=click.Choice(("backtracking", "paper")),
    default="backtracking",
    show_default=True,
    help="Step rule of the figures: backtracking (Armijo; W never increases) or the "
    "paper's s = 1/i. The attacks also run under the other rule: the claim that W "
    "decreases is judged under the paper's rule, and the report gives the claims "
    "supported under each.",
)
@force_option("report.html, summary.json, claims.csv and every data set's folder")
@QUIET
def reproduce(
    quick: bool,
    out: Path,
    datasets: tuple[str, ...],
    data_dir: Path | None,
    max_rate: float,
    seed: int,
    step: str,
    force: bool,
    quiet: bool,
) -> None:
    """The command (its help: :data:`HELP`)."""
    check_out_dir(out, force)
    import os
    import platform

    from .. import models
    from .._environment import versions
    from ..data import load_dataset
    from ..experiments.paper import PAPER_ALPHAS, claims_by_rule, paper_attack, run_dataset
    from ..reporting.paper import write_reproduction

    labels = {
        task: models.get(name).label(models.get(name).make())
        for task, name in models.DEFAULT_MODEL.items()
    }
    budget = QUICK if quick else FULL
    settings = {
        **budget,
        "quick": quick,
        "max_rate": max_rate,
        "seed": seed,
        "alphas": list(PAPER_ALPHAS),
        "split": "70/30 hold-out",
        "standardisation": FIXED_SCALER,
        "regression victim": labels["regression"],
        "classification victim": labels["classification"],
        "goal": "integrity, the victim's default target preset",
        "step rule": step,
        "trade-off": "the paper's W = αC + (1 − α)E, one start per point (Algorithm 1)",
        "datasets": list(datasets),
    }
    attack = paper_attack(
        max_rate=max_rate, max_iter=int(budget["max_iter"]), tol=budget["tol"], step=step
    )
    start = time.perf_counter()
    runs, timings = [], {}
    progress = not quiet  # a bar on a terminal, plain lines in a log
    with user_errors():
        _check_files(datasets, data_dir)
        for name in datasets:
            t0 = time.perf_counter()
            dataset = load_dataset(name, data_dir=data_dir)
            if progress:
                click.echo(
                    f"{name}: {dataset.X.shape[0]} rows × {dataset.X.shape[1]} features", err=True
                )
            runs.append(
                run_dataset(
                    dataset, alphas=PAPER_ALPHAS, seed=seed, attack=attack, progress=progress
                )
            )
            timings[name] = round(time.perf_counter() - t0, 3)
        summary = {
            "settings": settings,
            "versions": versions(),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
            "timings_seconds": timings,
            "wall_time_seconds": round(time.perf_counter() - start, 3),
            "claims_by_rule": claims_by_rule(runs),  # the report's headline
        }
        report = write_reproduction(runs, out, summary=summary)
    headline = claims_by_rule(runs)
    lead = "the paper's claims supported:"
    for k, (rule, c) in enumerate(headline["supported_by_rule"].items()):
        click.echo(
            f"{lead if k == 0 else ' ' * len(lead)} {c['supported']}/{c['total']} "
            f"under the {rule} step rule"
        )
    depends = len(headline["depend_on_rule"])
    click.echo(
        f"{depends} {'depends' if depends == 1 else 'depend'} on the rule "
        f"({time.perf_counter() - start:.1f} s); report: {report}"
    )


__all__ = ["reproduce"]
