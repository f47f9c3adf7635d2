"""What every command shares: one-line errors, the flags behind argument names, and
the options that read a user's CSV file (:func:`data_options`, :func:`read_data`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._progress import PLAIN_INTERVAL

if TYPE_CHECKING:
    from ..data import CsvTable, Dataset

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: ``--tol``'s help, the part every command that runs the flexible attack shares.
TOL_HELP = (
    "Stop a descent when W changes by less than tol times what it has gained "
    "(10^4 times that against a linear kernel, whose W is only piecewise smooth"
)

#: ``--trade-off`` and ``--starts``: how the flexible attack weighs and searches, the
#: same in every command that runs it.
TRADE_OFF = click.option(
    "--trade-off",
    "trade_off",
    type=click.Choice(("share", "paper")),
    default="share",
    show_default=True,
    help="How alpha weighs effect against concealment: 'share' means the same on "
    "any data (alpha is the share of the alpha = 0 attack's effect given up to "
    "hide the points closer to the data's centre; 0.5 keeps half of it, after "
    "every point, at 1.0-1.3 times the cost of alpha = 0); "
    "'paper' is the paper's W = alpha*C +/- (1 - alpha)*E, whose balance depends "
    "on the number of rows and the units.",
)
STARTS = click.option(
    "--starts",
    metavar="INTEGER",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Descents per poison point (the paper's start and clones with other "
    "responses or labels); the best is kept. 1 = the paper's single start.",
)


def passes_option(more: str = "") -> Callable[[F], F]:
    """``--passes``, the same in every command; ``more`` says what else it does there."""
    return click.option(
        "--passes",
        metavar="INTEGER",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Passes over the poison points: after the first, every point is crafted "
        "again given all the others (the cyclic scheme of Jagielski et al. 2018); each "
        "pass costs about as much as the first." + more,
    )


PASSES = passes_option()

#: ``--goal``: the goals' names and what each measures, the same in every command.
GOAL_HELP = (
    "integrity: pull the model towards a target theta_t (E_I = ||theta_p - theta_t||^2, "
    "lower = more damage); availability: push it away from the clean model theta_0 "
    "(E_A = ||theta_p - theta_0||^2); loss-availability: raise the model's own mean "
    "training loss (E_L, as Biggio et al. and Jagielski et al. measure availability). "
    "Higher E_A and E_L are more damage."
)


def goal_option(more: str = "") -> Callable[[F], F]:
    """``--goal``, with the command's own note ``more`` after the shared help."""
    from .. import models
    from ..attack.goals import GOALS

    return click.option(
        "--goal",
        type=click.Choice(tuple(GOALS)),
        default=None,
        show_default=models.DEFAULT_GOAL_HELP,
        help=GOAL_HELP + (f" {more}" if more else ""),
    )


def seed_option(seeds: str) -> Callable[[F], F]:
    """``--seed``: one non-negative integer (what numpy's generators take), seeding
    ``seeds`` (the command's own list of what it draws)."""
    return click.option(
        "--seed",
        metavar="INTEGER",
        type=click.IntRange(0, 2**32 - 1),
        default=0,
        show_default=True,
        help=f"Seed of {seeds}.",
    )


#: ``--data-dir``: where the paper's UCI files are read (or ``$FLEXPOISON_DATA_DIR``).
DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FLEXPOISON_DATA_DIR",
    show_envvar=True,
    help="Folder holding ccpp/Folds5x2_pp.csv and airquality/AirQualityUCI.csv. "
    "Without it: the user cache, then a download from UCI.",
)

#: The widest line a command prints (tables, summaries, progress): fits a
#: 100-column terminal and a log viewer without wrapping.
WIDTH = 100

#: The widest ``warning:`` line a command prints; the whole message stays in the
#: command's result files, which the line then names.
WARNING_WIDTH = 160

#: The parameters (by name) of the options that bound the poison rows' values, in
#: whichever command has them: a range warning names those its command has
#: (:func:`bounding_options`).
BOUNDING_PARAMS = ("within_range", "bounds_file")

#: ``--quiet``: the same in every command.
QUIET = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress and no tables: only the closing summary (what was done, where "
    "the results are) and, on stderr, the 'warning:' lines of attacks whose results should not be "
    "trusted as they stand. Without it, progress goes to stderr: a bar on a terminal, "
    f"plain lines (at most one per {PLAIN_INTERVAL:g} s per loop) when stderr is a file "
    "or a pipe.",
)


def force_option(writes: str) -> Callable[[F], F]:
    """``--force``: write into a non-empty --out; ``writes`` names what the command
    replaces there."""
    return click.option(
        "--force",
        is_flag=True,
        help="Write into an --out directory that is not empty (refused without it). "
        f"The command's own files there are replaced and, if an earlier run left more "
        f"of them, removed ({writes}), so old and new results are never mixed; other "
        "files are kept.",
    )


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse (a usage error, exit status 2) an --out that is not a directory, or a
    directory that is not empty unless ``force``; before anything runs or is written."""
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {out}: exists and is not a directory")
    if force or not out.is_dir():
        return
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as exc:
        raise click.UsageError(f"--out {out}: cannot list it ({exc.strerror})") from None
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        raise click.UsageError(
            f"--out {out}: the directory is not empty ({count}: {shown}); "
            "give --force to replace this command's results in it, or choose a new or "
            "empty directory"
        )


def echo_wrapped(text: str, err: bool = False) -> None:
    """Echo a sentence wrapped at :data:`WIDTH` columns (continuation lines indented;
    words and paths are never split)."""
    import textwrap

    click.echo(
        textwrap.fill(
            text,
            WIDTH,
            subsequent_indent="  ",
            break_long_words=False,
            break_on_hyphens=False,
        ),
        err=err,
    )


def shorten(line: str, width: int, tail: str, at_clause: bool = True) -> str:
    """``line`` if it fits in ``width`` characters; else its longest head that ends at a
    clause (before "; ", ": " or ", "; else, or without ``at_clause``, a space) and fits
    with ``tail`` after it."""
    if len(line) <= width:
        return line
    room = max(width - len(tail), 0)
    cut = max(line.rfind(sep, 0, room + 1) for sep in ("; ", ": ", ", ")) if at_clause else 0
    if cut <= 0:
        cut = line.rfind(" ", 0, room + 1)
    return (line[:cut] if cut > 0 else line[:room]) + tail


def bounding_options(command: click.Command) -> tuple[str, ...]:
    """The options of ``command`` that bound the poison rows (:data:`BOUNDING_PARAMS`),
    spelt as declared (e.g. ``--within-range``); empty if it has none."""
    declared = {p.name: p.opts[0] for p in command.params}
    return tuple(declared[name] for name in BOUNDING_PARAMS if name in declared)


def echo_warning(message: str, where: str, label: str = "") -> None:
    """One ``warning:`` line on stderr, at most :data:`WARNING_WIDTH` characters: a
    range warning as its brief (its worst column and the current command's
    :func:`bounding_options`), anything longer cut at a clause; either then names
    ``where`` the whole message is stored."""
    from ..attack.ranges import RangeWarning

    tail = f" (in full: {where})"
    if isinstance(message, RangeWarning):
        options = bounding_options(click.get_current_context().command)
        line = _fitted(
            [f"warning: {label}{message.brief(options, short)}" for short in (False, True)], tail
        )
    else:
        line = shorten(f"warning: {label}{message}", WARNING_WIDTH, " …" + tail)
    click.echo(line, err=True)


def echo_labelled_warnings(labelled: Sequence[tuple[str, str]], where: str, attacks: int) -> None:
    """The ``warning:`` lines of several attacks (``labelled``: (label, message) pairs,
    of ``attacks`` attacks in all), each as :func:`echo_warning` prints it, but with the
    range warnings of two or more attacks in one line: how many attacks leave the clean
    range, the worst excursion of them all and the command's bounding options (the
    attacks of an α grid tend to share one, the same columns at shrinking distances)."""
    from ..attack.ranges import RangeWarning

    ranged = [(label, w) for label, w in labelled if isinstance(w, RangeWarning)]
    for label, message in labelled:
        if len(ranged) < 2 or not isinstance(message, RangeWarning):
            echo_warning(message, where, f"{label}: " if label else "")
    if len(ranged) < 2:
        return
    label, worst = max(ranged, key=lambda pair: pair[1].excursions[0].excess)
    options = bounding_options(click.get_current_context().command)
    fix = f"; bound them: {', '.join(options)}" if options else ""
    lines = [  # longest first: "of N", "of its range" go before an option does
        f"warning: {len(ranged)}{of} attacks leave the clean range, worst {label}: "
        f"{worst.excursions[0].describe(worst.names, short)}{fix}"
        for of, short in ((f" of {attacks}", False), (f" of {attacks}", True), ("", True))
    ]
    click.echo(_fitted(lines, f" (in full: {where})"), err=True)


def _fitted(lines: Sequence[str], tail: str) -> str:
    """The first of ``lines`` (longest first) that fits in :data:`WARNING_WIDTH` with
    ``tail`` after it; else the last, cut at a clause (:func:`shorten`)."""
    for line in lines:
        if len(line) + len(tail) <= WARNING_WIDTH:
            return line + tail
    return shorten(lines[-1], WARNING_WIDTH - len(tail), " …") + tail


def _sep(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--sep`` as one character, by the library's rule (:func:`flexpoison.data.check_sep`)."""
    if value is None:
        return None
    from ..data import check_sep
    from ..errors import InvalidInputError

    try:
        return check_sep(value)
    except InvalidInputError as exc:
        raise click.BadParameter(one_line(exc).removeprefix("sep: ")) from None


def data_options(*, required: bool, sep_note: str = "") -> Callable[[F], F]:
    """``--data FILE.csv``, ``--sep`` and ``--target-column COL``: a user's CSV file, declared
    once for every command that reads one (read it with :func:`read_data`).

    ``required``: whether --data and --target-column must be given (a command that also
    takes a built-in data set checks them itself, :func:`check_data_options`);
    ``sep_note``: what the command adds to --sep's help."""
    options = (
        click.option(
            "--data",
            required=required,
            metavar="FILE.csv",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="CSV file with a header row: one target column, every other column a "
            "numeric feature. Read strictly: a malformed row is an error naming its line.",
        ),
        click.option(
            "--sep",
            default=",",
            show_default=True,
            metavar="CHAR",
            callback=_sep,
            help="Field separator of the CSV file (one character; 'tab' or '\\t' for "
            "tabs)." + (" " + sep_note if sep_note else ""),
        ),
        click.option(
            "--target-column",
            required=required,
            metavar="COL",
            help="Name of the column to predict (the response, or the class label; "
            "--model says which).",
        ),
    )

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def check_data_options(ctx: click.Context, builtin: str) -> None:
    """For a command that reads a built-in data set (option ``builtin``) or a CSV file
    (:func:`data_options` with ``required=False``): exactly one of them; --target-column
    with --data (click's own "Missing option" error, as where it is required); --sep and
    --target-column only with --data."""
    params = ctx.params
    flag = "--" + builtin.replace("_", "-")
    if (params[builtin] is None) == (params["data"] is None):
        raise click.UsageError(f"give exactly one of {flag} (a built-in data set) and --data")
    if params["data"] is not None:
        if params["target_column"] is None:
            option = next(p for p in ctx.command.params if p.name == "target_column")
            raise click.MissingParameter(ctx=ctx, param=option)
        return
    for name in ("target_column", "sep"):
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT:
            raise click.UsageError(
                f"--{name.replace('_', '-')} applies to --data only ({flag} names a "
                "built-in data set)"
            )


def read_data(
    path: Path, sep: str, target_column: str, task: str, columns: list[str] | None = None
) -> tuple[CsvTable, Dataset]:
    """Read the file of :func:`data_options` for a model of ``task``: the table (columns,
    rows, checksum) and the :class:`~flexpoison.data.Dataset`. Call it inside
    :func:`user_errors`; ``columns`` (if given) is filled with the feature columns' names
    for its messages."""
    from ..data import read_csv

    table = read_csv(path, sep)
    dataset = table.dataset(target_column, task)
    if columns is not None:
        columns.extend(dataset.feature_names)
    return table, dataset


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def name_columns(message: str, columns: Sequence[str]) -> str:
    """``message`` with "feature j" (the library's name of X's column j, followed by
    "('name')" when X has names) replaced by "column 'name'", ``columns`` the feature
    columns' names."""
    return re.sub(
        r"\bfeature (\d+)\b(?: \('[^']*'\))?",
        lambda m: (
            f"column {columns[int(m.group(1))]!r}" if int(m.group(1)) < len(columns) else m.group(0)
        ),
        message,
    )


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """A comma-separated list of names (checked by the attack, which lists the valid)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"expected names separated by commas, got {value!r}")
    return names


EVADE = click.option(
    "--evade",
    metavar="NAMES",
    callback=_names,
    help="Craft rows that these sanitizers (flexpoison.defences.SANITIZERS, "
    "comma-separated, e.g. sphere,slab,loss) keep, calibrated on the clean training "
    "rows unless said otherwise (attack: --evade-calibration). With several, the "
    "results also show the owner who runs them all together (the rows every one keeps).",
)


def _evade_calibration(default: str | None, more: str = "") -> Callable[[F], F]:
    """``--evade-calibration`` (the choices of :data:`flexpoison.attack.evasion.CALIBRATIONS`)."""
    return click.option(
        "--evade-calibration",
        type=click.Choice(["clean", "poisoned"]),
        default=default,
        show_default=default is not None,
        help="How the data owner calibrates the sanitizers of --evade: on the clean "
        "training rows, or on the training set as screened, poison included." + more,
    )


def evade_options(command: F) -> F:
    """``--evade NAMES`` and ``--evade-calibration``: sanitizers every poison row is
    to pass (:mod:`flexpoison.attack.evasion`)."""
    return EVADE(_evade_calibration("clean")(command))


def _sanitizer_names(ctx: click.Context, param: click.Parameter, value: str | None):
    """Comma-separated names of :data:`flexpoison.defences.SANITIZERS`, each once."""
    names = _names(ctx, param, value)
    if names is None:
        return None
    from ..defences import SANITIZERS

    for name in names:
        if name not in SANITIZERS:
            raise click.BadParameter(
                f"unknown sanitizer {name!r}; expected names among {', '.join(SANITIZERS)}"
            )
        if names.count(name) > 1:
            raise click.BadParameter(f"{name!r} is given twice")
    return names


def sweep_evade_options(command: F) -> F:
    """The ``sweep`` command's ``--evade`` and ``--evade-calibration``: they replace the
    sweep file's ``evade`` and ``evade_calibration`` keys for every run."""
    command = _evade_calibration(
        None, " Replaces the sweep file's evade_calibration (default: clean)."
    )(command)
    return click.option(
        "--evade",
        metavar="NAMES",
        callback=_sanitizer_names,
        help="Sanitizers every run's attack evades (flexpoison.defences.SANITIZERS, "
        "comma-separated, e.g. sphere,slab), calibrated with the file's clean_removal: "
        "replaces the sweep file's evade list. Runs that evade have their own ids.",
    )(command)


EVADING = click.option(
    "--evading",
    metavar="NAMES",
    callback=_names,
    help="The evading series: for each of these sanitizers (comma-separated, e.g. "
    "sphere,slab,loss), the alpha = 0 attack built to evade it, measured like every "
    "other attack and drawn on that sanitizer's panel. With several: also the attack "
    "built to evade them all, and every attack measured after the owner who runs them "
    "together (keeps the rows every one keeps; sanitizer sphere+slab, its own panel).",
)


def evade_arguments(params: Mapping[str, Any]) -> dict:
    """The attack's evasion arguments from a command's options."""
    if not params.get("evade"):
        return {}
    return {"evade": params["evade"], "evade_calibration": params["evade_calibration"]}


def echo_screenings(result) -> None:
    """What each evaded sanitizer removed of the final set, and with several what the
    owner who runs them all removes, in one line (none without)."""
    if not result.screenings:
        return
    parts = [
        (
            f"all together ({s.sanitizer}) keep {s.rows_kept}/{s.rows} rows and remove "
            if s.combined
            else f"{s.sanitizer} removes "
        )
        + f"{s.poison_removed}/{result.n_points} poison rows"
        + _effect_kept(s)
        for s in result.screenings
    ]
    calibration = result.screenings[0].calibration
    echo_wrapped(f"screened as the owner does ({calibration} calibration): " + "; ".join(parts))


def _effect_kept(screening) -> str:
    """E after a screening, and the share of the attack's change of E it keeps
    (``OwnerScreening.kept``): a filter that removes no poison row may still undo the
    attack (by the clean rows it removes), which "0 removed" hides."""
    if screening.effect is None:
        return ""
    if screening.kept is None:
        return f" (E after {screening.effect:.4g})"
    kept = screening.kept
    share = f"{kept:.0%} of the attack's change kept" if kept > 0 else "none of it kept"
    return f" (E after {screening.effect:.4g}: {share})"


@contextlib.contextmanager
def user_errors(
    flags: Mapping[str, str] | None = None, columns: Sequence[str] | None = None
) -> Iterator[None]:
    """Turn refusals (flexpoison's errors, file-system errors) into one line
    ``Error: …`` and exit status 1, never a traceback.

    flexpoison's messages start with the argument's name (``alpha: …``); ``flags``
    maps such names to the command's options (``--alpha``). Once a data file is read,
    ``columns`` (filled in place with the feature columns' names) makes "feature j" in
    a message name the file's column instead."""
    from ..errors import FlexPoisonError

    try:
        yield
    except FlexPoisonError as exc:
        message = one_line(exc)
        name, colon, rest = message.partition(": ")
        if colon and flags and name in flags:
            message = f"{flags[name]}: {rest}"
        if columns:
            message = name_columns(message, columns)
        raise click.ClickException(message) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"{where}{exc.strerror or one_line(exc)}") from None


__all__ = [
    "CONTEXT",
    "WIDTH",
    "WARNING_WIDTH",
    "BOUNDING_PARAMS",
    "QUIET",
    "force_option",
    "check_out_dir",
    "echo_wrapped",
    "shorten",
    "bounding_options",
    "echo_warning",
    "echo_labelled_warnings",
    "data_options",
    "check_data_options",
    "read_data",
    "one_line",
    "name_columns",
    "user_errors",
    "evade_options",
    "sweep_evade_options",
    "EVADE",
    "EVADING",
    "evade_arguments",
    "echo_screenings",
]
