"""The feature constraints of every command that attacks (``attack``, ``frontier``),
declared once (:func:`constraint_options`): ``--integer``, ``--frozen``, ``--one-hot``
(columns of the data by name or 0-based position), ``--round-fractional``, ``--bounds
FILE.toml`` (per-column bounds) and ``--within-range``, turned into one
:class:`~flexpoison.attack.specs.Specs` (:func:`constraints_from`), whose
:meth:`~flexpoison.attack.specs.Specs.attack_arguments` are
:class:`~flexpoison.FlexiblePoisoning`'s ``integer_features``, ``frozen_features``,
``one_hot_groups``, ``round_fractional``, ``bounds`` and ``data_units``. An ``--integer``
column of a data file is checked on every row of the file (train and test), so that a
refusal names the file's line.

The bounds file holds one table::

    [bounds]
    age = [18, 90]
    bmi = [10, inf]      # inf / -inf: no bound on that side

in the data's units; columns it does not list are bounded by the box alone. The table
is read by the library's own parser of bounds by column
(:func:`flexpoison.attack.specs.resolve_bounds`), as a sweep file's ``bounds`` are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ..attack.specs import Specs

F = TypeVar("F", bound=Callable[..., Any])

#: The attack's argument names, as the options that set them (for error messages).
FLAGS = {
    "integer_features": "--integer",
    "frozen_features": "--frozen",
    "one_hot_groups": "--one-hot",
    "round_fractional": "--round-fractional",
    "bounds": "--bounds",
    "within_range": "--within-range",
}


def _joined(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str | None:
    """A repeatable COLS option as one comma-separated list (None when not given):
    ``--integer age --integer children`` is ``--integer age,children``."""
    return ",".join(value) if value else None


_OPTIONS = (
    click.option(
        "--bounds",
        "bounds_file",
        metavar="FILE.toml",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Per-column bounds on the poison rows, in the data's units, intersected with "
        "the box (and with --within-range): a TOML file with one table, e.g. '[bounds]' "
        "then 'age = [18, 90]' and 'bmi = [10, inf]' (inf / -inf: no bound on that side). "
        "Columns not listed are bounded by the box alone.",
    ),
    click.option(
        "--integer",
        "integer",
        metavar="COLS",
        multiple=True,
        callback=_joined,
        help="Columns that hold integers (comma-separated names, or 0-based positions in "
        "the CSV's header; of a built-in set, in its features; the option may be "
        "repeated): each poison row is "
        "rounded inside the box, in the data's units (also when the attack runs on "
        "standardised rows), then a search among the neighbouring integers keeps the "
        "rounding with the best W; the poison CSV files write them as integers. Every row "
        "of the data must hold an integer there (3 or 3.0), else the column is refused "
        "unless --round-fractional.",
    ),
    click.option(
        "--round-fractional",
        "round_fractional",
        is_flag=True,
        help="Accept --integer columns whose rows hold fractions (0.32, 1.7), which are "
        "refused otherwise: the poison rows are rounded there all the same, while the "
        "file's rows keep their fractions (integers among fractions can give the poison "
        "rows away).",
    ),
    click.option(
        "--frozen",
        "frozen",
        metavar="COLS",
        multiple=True,
        callback=_joined,
        help="Columns the attacker cannot choose (comma-separated names or 0-based "
        "positions, as for --integer; repeatable): every poison row keeps the values of the clean "
        "training row it is cloned from.",
    ),
    click.option(
        "--one-hot",
        "one_hot",
        metavar="COLS",
        multiple=True,
        help="A group of 0/1 columns encoding one category (comma-separated names or 0-based "
        "positions, at least 2; repeat the option for each group): every poison row holds "
        "a valid one-hot vector there.",
    ),
    click.option(
        "--within-range",
        is_flag=True,
        help="Also keep every poison feature within the range observed in the clean "
        "training rows (the box becomes its intersection with [min, max]), so no value is "
        "one the data never showed.",
    ),
)


def constraint_options(function: F) -> F:
    """The options ``--bounds``, ``--integer``, ``--round-fractional``, ``--frozen``,
    ``--one-hot`` and ``--within-range``, the same in every command that takes them."""
    for option in reversed(_OPTIONS):
        function = option(function)
    return function


def check_constraint_options(params: dict) -> None:
    """Refuse --round-fractional without --integer (before anything runs)."""
    if params["round_fractional"] and params["integer"] is None:
        raise click.UsageError(
            "--round-fractional applies to --integer columns; give --integer COLS, or drop it"
        )


def _columns(option: str, value: str, columns: tuple[str, ...], target: str, features) -> list[str]:
    """The feature columns COLS names, by name: comma-separated names of the data's
    columns, or their 0-based positions in its header (a name wins over a position)."""
    from ..attack.specs import feature_column
    from ..errors import InvalidInputError

    out = []
    for item in (part.strip() for part in value.split(",")):
        name = item
        if item not in columns and item.isdigit():
            if int(item) >= len(columns):
                raise click.BadParameter(
                    f"column position {item} is beyond the data file's {len(columns)} "
                    f"columns (0 to {len(columns) - 1})",
                    param_hint=f"'{option}'",
                )
            name = columns[int(item)]
        try:
            out.append(features[feature_column(name, features, target, option)])
        except InvalidInputError as exc:
            raise click.BadParameter(
                str(exc).removeprefix(f"{option}: "), param_hint=f"'{option}'"
            ) from None
    return out


def constraints_from(table, dataset, params: dict) -> Specs:
    """The constraints of the options (columns by name, as files and messages show
    them, whether given by name or position), for the data set
    ``dataset`` and, when it was read from a file, its ``table``
    (:func:`~flexpoison.cli.common.read_data`: positions then count the file's columns,
    and a refusal names the file's line). Without --round-fractional, an --integer
    column holding a fraction on any row is refused there
    (:func:`flexpoison.attack.constraints.check_integers`)."""
    from ..attack.constraints import check_integers
    from ..attack.specs import Specs

    target, features = dataset.target_name, dataset.feature_names
    columns = tuple(features) if table is None else table.columns
    found: dict[str, Any] = {}
    if params["integer"] is not None:
        found["integer_features"] = _columns(
            "--integer", params["integer"], columns, target, features
        )
        found["round_fractional"] = params["round_fractional"]
        if not params["round_fractional"]:
            check_integers(
                dataset.X,
                [list(features).index(name) for name in found["integer_features"]],
                where=(lambda row: f"row {row}")
                if table is None
                else (lambda row: f"line {table.lines[row]} of {table.path.name}"),
                remedy="drop it from --integer, or add --round-fractional to round the poison "
                "rows there all the same",
            )
    if params["frozen"] is not None:
        found["frozen_features"] = _columns("--frozen", params["frozen"], columns, target, features)
    if params["one_hot"]:
        found["one_hot_groups"] = [
            _columns("--one-hot", group, columns, target, features) for group in params["one_hot"]
        ]
    if params["bounds_file"] is not None:
        found["bounds"] = read_bounds(params["bounds_file"], features, target)
    return Specs(**found, within_range=params["within_range"])


def integer_columns(constraints: Specs) -> list[str]:
    """The names of the columns poison.csv writes as integers (--integer, --one-hot)."""
    return [
        *(constraints.integer_features or ()),
        *(name for group in constraints.one_hot_groups or () for name in group),
    ]


def recorded(X_poison, constraints: Specs, X, features):
    """The poison rows in the data's units with the clean rows' values restored exactly
    where only rounding separates them, and --frozen columns at their source rows'
    values, also after the round trip through --standardize
    (:func:`flexpoison.attack.specs.as_recorded`)."""
    from ..attack.specs import as_recorded

    names = list(features)
    return as_recorded(
        X_poison, X, [names.index(name) for name in constraints.frozen_features or ()]
    )


def read_bounds(path: Path, features, target: str) -> dict:
    """The bounds of a --bounds file (module docstring) by column name, in the data's
    units, checked by the library's parser
    (:func:`flexpoison.attack.specs.resolve_bounds`): an unknown column, the target
    column or a malformed entry is refused, naming the file and the column."""
    import tomllib

    from ..attack.specs import named_bounds
    from ..errors import InvalidInputError

    def refuse(reason: str) -> click.BadParameter:
        return click.BadParameter(f"{path}: {reason}", param_hint="'--bounds'")

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise refuse(f"not a valid TOML file ({exc})") from None
    except UnicodeDecodeError:
        raise refuse("not a UTF-8 text file") from None
    table = document.get("bounds")
    if set(document) != {"bounds"} or not isinstance(table, dict):
        raise refuse(
            "expected one table [bounds] holding 'column = [lower, upper]' lines, found "
            + (", ".join(repr(k) for k in document) or "nothing")
        )
    try:
        named_bounds(table, features, target, "bounds")
    except InvalidInputError as exc:
        raise refuse(str(exc).removeprefix("bounds: ")) from None
    return table


__all__ = [
    "FLAGS",
    "constraint_options",
    "check_constraint_options",
    "constraints_from",
    "integer_columns",
    "recorded",
    "read_bounds",
]
