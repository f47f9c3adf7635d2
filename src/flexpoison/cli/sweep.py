"""``flexpoison sweep`` and ``flexpoison plot``: experiment grids, resumable, anywhere.

The commands parse, call :mod:`flexpoison.sweeps` and print; the sweep file's schema,
the run and the store are documented on the documentation's "Sweeps" page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from .. import models
from .._validation import MAX_RATE
from ..data.loaders import DATASETS
from ..scalers import FIXED_SCALER, REFITTED_SCALER
from ..sweeps.spec import MAX_RUNS
from .common import (
    CONTEXT,
    QUIET,
    WIDTH,
    echo_wrapped,
    shorten,
    sweep_evade_options,
    user_errors,
)

#: Runs with warnings that --status lists at most (the store holds them all).
STATUS_WARNED = 20

HELP = """Run the grid of a sweep FILE (TOML), resumably, into DIR/results.sqlite.

    The grid is datasets x models x goals x alphas x rates x seeds; each run (one
    attack, measured: thetas, E, C, iterations, test metric, sanitizers) has an id
    hashed from its settings. Finished runs are written one by one by this process, so
    the command can be interrupted or killed at any point: running it again skips the
    finished runs and runs the others. Results do not depend on the executor.

    The file is checked as a whole before anything runs: every value a run would refuse
    (a rate outside (0, {max_rate:g}], an alpha outside [0, 1], a split leaving too few
    training or test rows, ...) and a grid of more than {limit} runs (split such a grid
    into several files; they can share one DIR) are refused with one line naming the key.

    A data set is a built-in name ({builtin}) or your own CSV file, a table
    {{ path = "FILE.csv", target = "COL" }} (optional: sep, task, name; the path relative
    to FILE's folder) read as 'flexpoison attack --data' reads it, up front; its runs
    name it NAME@HASH, the file's stem and the start of its SHA-256. The table also
    takes the constraints of 'flexpoison attack', in the file's units: integer =
    ["age"], frozen = ["sex"], one_hot = [["a", "b"]] (columns by name, or by 0-based
    position in the file's header), round_fractional = true, within_range = true, and
    bounds = {{ age = [18, 90] }} (by name).

    Each run splits its data set 70/30 with its seed and standardises the features
    with {scaler}. Not the victim of {refitted}.

    --evade NAMES and --evade-calibration replace the file's evade and
    evade_calibration keys: every run's attack then crafts rows those sanitizers keep.
    Such runs have ids of their own; give the same flags with --status.

    \b
    Example sweep file:
      [sweep]
      name = "demo"
      datasets = ["iris", {{ path = "mine.csv", target = "label" }}]
      models = ["{model}"]
      goals = ["integrity", "availability"]
      alphas = [0.0, 0.5, 1.0]
      rates = [0.05, 0.1]
      seeds = [0, 1]
      sanitizers = ["sphere", "loss"]   # optional
      max_iter = 50                     # optional

    \b
    Examples:
      flexpoison sweep demo.toml --out runs/demo               # all local CPUs
      flexpoison sweep demo.toml --out runs/demo --status
      flexpoison sweep demo.toml --out runs/demo --scheduler tcp://10.0.0.5:8786
      flexpoison plot runs/demo
    """.format(
    model=models.DEFAULT_MODEL["classification"],
    max_rate=MAX_RATE,
    limit=f"{MAX_RUNS:,}",
    builtin=", ".join(DATASETS),
    scaler=FIXED_SCALER,
    refitted=REFITTED_SCALER,
)


@click.command(no_args_is_help=True, context_settings=CONTEXT, help=HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the results store, DIR/results.sqlite (created after "
    "the sweep file has been checked). Runs already in it are not run "
    "again.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    metavar="N",
    help="Local worker processes (default: every CPU available; 1 = run in "
    "this process). With --dask: the LocalCluster's workers.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Run on the Dask cluster behind this scheduler (flexpoison and the "
    "data must be available on its workers; needs flexpoison[dask]).",
)
@click.option(
    "--dask",
    "dask_local",
    is_flag=True,
    help="Start a Dask LocalCluster (one thread per worker) and run on it.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Run again the runs recorded as failed (they are skipped otherwise).",
)
@click.option(
    "--status",
    is_flag=True,
    help="Only print where the sweep stands in DIR (done / failed / pending, "
    "failed runs' errors); run nothing, write nothing.",
)
@sweep_evade_options
@QUIET
def sweep(
    file: Path,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    dask_local: bool,
    retry_failed: bool,
    status: bool,
    evade: list[str] | None,
    evade_calibration: str | None,
    quiet: bool,
) -> None:
    """The ``sweep`` command (its help text is :data:`HELP`)."""
    from .. import sweeps as sw

    ctx = click.get_current_context()
    if status:
        extra = [
            f"--{name.replace('_', '-')}"
            for name in ("workers", "scheduler", "retry_failed")
            if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
        ]
        if dask_local:
            extra.append("--dask")
        if extra:
            raise click.UsageError(
                f"--status only reads the store; it does not take {', '.join(extra)}"
            )
    if scheduler is not None and dask_local:
        raise click.UsageError("give either --scheduler or --dask, not both")
    if scheduler is not None and workers is not None:
        raise click.UsageError(
            "--workers does not apply with --scheduler: the cluster has its own workers"
        )
    # Ctrl-C at any point (reading the file, starting workers, running) ends with the
    # exit status of an interrupt, 130, and one line saying where things stand
    with user_errors(), _interrupt_exits(ctx, out / sw.STORE_NAME):
        grid = sw.load_sweep(file, evade=evade, evade_calibration=evade_calibration)
        if status:
            report = sw.sweep_status(grid, out)
            _print_status(grid, report, out)
            return
        if not quiet and grid.skipped:
            echo_wrapped("left out (skip_incompatible): " + ", ".join(grid.skipped))
        result = sw.run_sweep(
            grid,
            out,
            workers=workers,
            scheduler=scheduler,
            dask_local=dask_local,
            retry_failed=retry_failed,
            progress=not quiet,  # a bar on a terminal, plain lines in a log
        )
        report = sw.sweep_status(grid, out)
        if not quiet:
            click.echo(sw.format_table(report))
        for run_id, label, error in result.failures[:10]:
            click.echo(f"failed {run_id} ({label}): {error}", err=True)
        if len(result.failures) > 10:
            click.echo(
                f"… and {len(result.failures) - 10} more failed runs (see --status)", err=True
            )
    ran = result.done + result.failed
    store = out / sw.STORE_NAME
    if ran:
        click.echo(
            f"sweep {grid.name!r}: {result.total} runs; {ran} run now "
            f"({result.done} done, {result.failed} failed) in {result.seconds:.1f} s"
        )
        click.echo(f"  on {result.executor}; {result.skipped} already in {store}")
    else:
        click.echo(f"sweep {grid.name!r}: {result.total} runs; 0 run now")
        click.echo(f"  all already in {store}")
    if report.warned:  # even with --quiet, as every command's warnings
        click.echo(
            f"warning: {len(report.warned)} of {report.done} done runs carry warnings; the "
            f"same command with --status lists them (in full: {store})",
            err=True,
        )
    if result.failed_total:
        raise click.ClickException(
            f"{result.failed_total} of {result.total} runs failed; "
            f"'flexpoison sweep {file} --out {out} --status' lists their errors, "
            "--retry-failed runs them again"
        )


@contextlib.contextmanager
def _interrupt_exits(ctx: click.Context, store: Path) -> Iterator[None]:
    """Turn Ctrl-C (KeyboardInterrupt) into one line on stderr and exit status 130."""
    try:
        yield
    except KeyboardInterrupt:
        if store.is_file():
            click.echo(
                f"interrupted: the runs finished so far are in {store}; run the same "
                "command again to resume",
                err=True,
            )
        else:
            click.echo(
                f"interrupted before a run was written (no {store} yet); run the same "
                "command again to start",
                err=True,
            )
        # CPython marks an interrupt raised inside code run from a string (dataclasses
        # and namedtuple build methods so while modules import) as unhandled even once
        # caught, and 'python -m' then ends by SIGINT, not with 130; evaluating a
        # string clears that mark
        eval("None")
        ctx.exit(130)


def _print_status(grid, report, out: Path) -> None:
    from .. import sweeps as sw

    where = out / sw.STORE_NAME
    if not report.store_exists:
        click.echo(f"no results store at {where} yet")
    click.echo(f"sweep {grid.name!r} ({grid.path}): {report.total} runs in the grid")
    click.echo(f"  done     {report.done:>6}")
    click.echo(f"  failed   {report.failed:>6}")
    click.echo(f"  pending  {report.pending:>6}")
    if report.other_runs:
        click.echo(f"  ({report.other_runs} more runs in {where} belong to other grids)")
    if report.store_exists:
        click.echo(sw.format_table(report))
    if report.warned:
        click.echo(
            f"runs with warnings ({len(report.warned)}; in full in {where}, each run's "
            "result 'warnings'):"
        )
        for run_id, label, warnings in report.warned[:STATUS_WARNED]:
            more = f" ({len(warnings)} warnings)" if len(warnings) > 1 else ""
            click.echo(f"  {run_id}  {label}{more}:")
            # its first warning, cut at a word: a range warning's head names its worst column
            click.echo(shorten(f"    {warnings[0]}", WIDTH, " …", at_clause=False))
        if len(report.warned) > STATUS_WARNED:
            click.echo(f"  … and {len(report.warned) - STATUS_WARNED} more runs")
    if report.failures:
        click.echo("failed runs:")
        for run_id, label, error, attempts in report.failures:
            tries = f" [{attempts} attempts]" if attempts > 1 else ""
            click.echo(f"  {run_id}  {label}: {error}{tries}")


@click.command(no_args_is_help=True, context_settings=CONTEXT)
@click.argument(
    "directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
def plot(directory: Path) -> None:
    """Draw the figures of a sweep's results store DIR/results.sqlite into DIR/figures.

    Per data set, model and goal: the effect E vs the poisoning rate and the test
    metric vs the rate, one line per alpha (means over seeds); and, when the runs
    measured sanitizers, per rate the frontier of the effect after sanitising vs the
    share of poison caught, one point per alpha. Nothing is recomputed.
    """

    with user_errors():
        from ..reporting.sweeps import plot_store

        written = plot_store(directory)
    click.echo(f"wrote {len(written)} figures to {directory / 'figures'}")


__all__ = ["sweep", "plot"]
