"""``flexpoison frontier``: the effect–concealment frontier against real sanitizers, on a
built-in data set (``--dataset``) or the user's own CSV file (``--data``, read by the
same options and rules as ``flexpoison attack``: :func:`.common.data_options`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import models
from .._validation import MAX_RATE
from ..attack.defaults import DEFAULT_MAX_ITER, DEFAULT_TOL
from ..data.loaders import DATASETS
from ..scalers import FIXED_SCALER
from .common import (
    CONTEXT,
    DATA_DIR,
    EVADE,
    EVADING,
    PASSES,
    QUIET,
    STARTS,
    TOL_HELP,
    TRADE_OFF,
    WIDTH,
    check_data_options,
    check_out_dir,
    data_options,
    echo_labelled_warnings,
    force_option,
    goal_option,
    read_data,
    seed_option,
    user_errors,
)
from .constraints import FLAGS as CONSTRAINT_FLAGS
from .constraints import check_constraint_options, constraint_options, constraints_from

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
    "evade": "--evade",
    "evading": "--evading",
    "max_iter": "--max-iter",
    "tol": "--tol",
    "trade_off": "--trade-off",
    "starts": "--starts",
    "passes": "--passes",
    "report": "--report",
    "dataset": "--dataset",
    **CONSTRAINT_FLAGS,
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


def _dataset(ctx, param, value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().lower().replace("-", "_")
    if name not in DATASETS:
        raise click.BadParameter(f"unknown data set {value!r}; choose from " + ", ".join(DATASETS))
    return name


@click.command(context_settings=CONTEXT)
@click.option(
    "--dataset",
    callback=_dataset,
    metavar="NAME",
    help="A built-in data set: " + ", ".join(DATASETS) + "; or give your own CSV file "
    f"with --data. Either is split 70/30 with --seed, its features standardised with "
    f"{FIXED_SCALER}.",
)
@data_options(
    required=False,
    sep_note="With --data only, which also needs --target-column and --model.",
)
@click.option(
    "--model",
    type=click.Choice(models.MODEL_NAMES),
    default=None,
    help="The victim: " + MODEL_HELP + ". Default: " + DEFAULT_HELP + ". Required "
    "with --data: its task says how the target column is read (numbers or class labels).",
)
@goal_option("integrity takes the victim's default target preset.")
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
@seed_option("the split, of the attacks' initial rows and of the baselines")
@DATA_DIR
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory for frontier.csv, frontier.json, frontier.html (the "
    "self-contained report), the PNGs and poison_*.csv, written all at once at the "
    "end; new or empty unless --force; nothing else is written outside it (but "
    "--report). Default: flexpoison-out/frontier-DATASET-MODEL-GOAL, DATASET the "
    "name or the CSV file's stem (beside the report of 'flexpoison reproduce').",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ITER,
    show_default=True,
    help="Gradient iterations per descent at most (flexible attack and the unconcealed baseline).",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TOL,
    show_default=True,
    help=TOL_HELP + "; flexible attack and the unconcealed baseline).",
)
@TRADE_OFF
@STARTS
@PASSES
@constraint_options
@EVADING
@EVADE
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An existing report.html (from 'flexpoison reproduce') to insert a "
    "Frontier section into, atomically: the one file outside --out this command "
    "writes, and only when this option is given.",
)
@force_option("frontier.*, frontier_*.png, poison_*.csv")
@QUIET
def frontier(
    dataset: str | None,
    data: Path | None,
    sep: str,
    target_column: str | None,
    model: str | None,
    goal: str | None,
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
    bounds_file: Path | None,
    integer: str | None,
    round_fractional: bool,
    frozen: str | None,
    one_hot: tuple[str, ...],
    within_range: bool,
    evading: list[str] | None,
    evade: list[str] | None,
    report: Path | None,
    force: bool,
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

    The data: a built-in set (--dataset NAME) or your CSV file (--data FILE.csv
    --target-column COL --model NAME [--sep ;]), read as 'flexpoison attack' reads it.

    The feature constraints (--integer, --frozen, --one-hot, --bounds, --within-range)
    are those of 'flexpoison attack', in the data's units: they hold for the flexible
    attack at every alpha and for the unconcealed baseline; random clone and label flip
    copy clean rows, which hold the data's own values.

    --evading NAMES adds the alpha = 0 attacks built to evade each; with several names
    (of --evading or --evade), the attack built to evade them all, and every attack
    measured after the owner who runs them together, keeping the rows every one keeps
    (sanitizer sphere+slab in the files, its own panel).

    Everything is written inside --out (frontier.html is the self-contained report),
    which must be new or empty unless --force; only --report edits a file elsewhere.
    """
    ctx = click.get_current_context()
    _check_options(ctx, data, model, report)
    if out is not None:
        check_out_dir(out, force)
    start = time.perf_counter()
    columns: list[str] = []  # the feature columns' names of --data, for error messages
    with user_errors(FLAGS, columns):
        from ..experiments import configured_attack
        from ..experiments import frontier as fr
        from ..reporting.frontier import write_frontier

        table = None
        if data is not None:
            assert target_column is not None and model is not None  # checked above
            table, source = read_data(data, sep, target_column, models.get(model).task, columns)
        else:
            assert dataset is not None  # exactly one of --dataset and --data (checked above)
            source = fr.load_dataset(dataset, data_dir=data_dir)
            columns.extend(source.feature_names)
        constraints = constraints_from(table, source, ctx.params)
        if out is None:  # the default names the data set and the victim: check it first
            victim = model or models.DEFAULT_MODEL[source.task]
            kind = goal or models.get(victim).default_goal
            out = Path("flexpoison-out") / f"frontier-{source.name}-{victim}-{kind}"
            check_out_dir(out, force)
        passed = ("model", "goal", "rate", "alphas", "seed", "data_dir")
        series: dict[str, Any] = {key: ctx.params[key] or () for key in ("evading", "evade")}
        result = fr.run_frontier(
            source,
            **{key: ctx.params[key] for key in passed},
            attack=configured_attack(ctx.params),  # its search options, as `attack`'s
            progress=not quiet,  # a bar on a terminal, plain lines in a log
            constraints=constraints if constraints else None,
            **series,
        )
        written = write_frontier(result, out, report=report, auto_report=False)
    if not quiet:
        click.echo(_table(result))
    click.echo(_done(result, written, time.perf_counter() - start))
    # even with --quiet: a failed attack must be seen
    labelled = [(p.label, message) for p in result.attacks for message in p.warnings]
    echo_labelled_warnings(labelled, "frontier.json", len(result.attacks))


def _done(result, written, seconds: float) -> str:
    """The last line: what was measured (and the owners who run several sanitizers
    together), how long it took, where the files are."""
    s = result.settings
    tail = f"; report updated: {written.report}" if written.report else ""
    return (
        f"frontier: {len(result.attacks)} attacks x {len(s.sanitizers) - 1} sanitizers"
        + "".join(f" + {name} together" for name in s.combined)
        + f", m = {s.n_poison} poison rows ({seconds:.1f} s); files in {written.out_dir}{tail}"
    )


def _check_options(
    ctx: click.Context, data: Path | None, model: str | None, report: Path | None
) -> None:
    """Refuse what cannot run before anything is read: the data options, the
    constraints, --data without --model, a --report that does not exist."""
    check_data_options(ctx, "dataset")
    check_constraint_options(ctx.params)
    if data is not None and model is None:
        raise click.UsageError(
            "--data needs --model: the model's task says how the target column is read "
            "(numbers for regression, class labels for classification)"
        )
    if report is not None and not report.is_file():
        raise click.ClickException(
            f"--report: {report} does not exist (give the "
            "report.html written by 'flexpoison reproduce')"
        )


#: Sanitizer names shortened in the console table (the files keep the full names).
SHORT_NAMES = {"three_sigma": "3-sigma", "isolation_forest": "iforest"}


def _table(result, width: int = WIDTH) -> str:
    """The effect left (first line) and the share of poison caught (second line) per
    attack (rows) and sanitizer (columns), after the attack's test metric without a
    sanitizer, as text at most ``width`` columns wide (the sanitizers are split over
    several blocks if they do not fit in one)."""
    import textwrap

    from ..experiments.pipeline import NO_SANITIZER

    s = result.settings
    names = list(s.screens)
    attacks = list(result.attacks)
    labels = [p.label if len(p.label) <= 16 else p.attack.replace("_", " ") for p in attacks]
    direction = "higher" if s.higher_is_damage else "lower"
    title = (
        f"{s.effect_name} left after each sanitizer and refitting ({direction} = more damage; "
        f"no attack: {result.effect_clean:.4g}), and under it the share of the poison rows "
        f"the sanitizer removed; first, the {s.metric_name} with no sanitizer (clean model: "
        f"{result.test_metric_clean:.4g}):"
    )
    lines = textwrap.wrap(title, width)
    cells = {}
    for i, p in enumerate(attacks):
        for n in names:
            r = result.row(p.attack, n, p.alpha)
            recall = "" if n == NO_SANITIZER or r.recall is None else f"{r.recall:.0%}"
            cells[i, n] = (f"{r.effect:.4g}", recall)
    metric = [f"{result.row(p.attack, NO_SANITIZER, p.alpha).test_metric:.4g}" for p in attacks]
    metric_head = s.metric_name.replace("test ", "")
    metric_width = 2 + max(len(metric_head), *(len(m) for m in metric))
    first = max(len("attack"), *(len(label) for label in labels)) + 1 + metric_width
    widths = {  # two spaces, then the widest of the name and the cells
        n: 2
        + max(
            len(SHORT_NAMES.get(n, n)), *(len(c) for i in range(len(attacks)) for c in cells[i, n])
        )
        for n in names
    }
    blocks: list[list[str]] = [[]]
    for n in names:  # as many sanitizers per block as fit in ``width``
        if blocks[-1] and first + sum(widths[m] for m in blocks[-1]) + widths[n] > width:
            blocks.append([])
        blocks[-1].append(n)
    for block in blocks:
        head = "".join(SHORT_NAMES.get(n, n).rjust(widths[n]) for n in block)
        lines.append(
            ("attack".ljust(first - metric_width) + metric_head.rjust(metric_width)) + head
        )
        for i, label in enumerate(labels):
            for k, text in enumerate((label, "")):
                row = "".join(cells[i, n][k].rjust(widths[n]) for n in block)
                left = text.ljust(first - metric_width)
                left += (metric[i] if k == 0 else "").rjust(metric_width)
                lines.append(left + row)
    notes = [f"{short} = {name}" for name, short in SHORT_NAMES.items() if name in names]
    notes += [f"{short} = {p.label}" for short, p in zip(labels, attacks) if short != p.label]
    if notes:
        lines.append(textwrap.fill("(" + "; ".join(notes) + ")", width))
    return "\n".join(lines)


__all__ = ["frontier"]
