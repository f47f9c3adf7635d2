"""``flexpoison attack``'s feature constraints: ``--integer``, ``--frozen``,
``--one-hot`` (columns of the data file by name or 0-based position), ``--round-fractional``
and ``--bounds FILE.toml`` (per-column bounds), turned into
:class:`~flexpoison.FlexiblePoisoning`'s ``integer_features``, ``frozen_features``,
``one_hot_groups``, ``round_fractional`` and ``bounds``
(:mod:`flexpoison.attack.constraints`). An ``--integer`` column is checked on every row
of the data file (train and test), so that a refusal names the file's line.

The bounds file holds one table::

    [bounds]
    age = [18, 90]
    bmi = [10, inf]      # inf / -inf: no bound on that side

in the data file's units; columns it does not list are bounded by the box alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: The attack's argument names, as the options that set them (for error messages).
FLAGS = {
    "integer_features": "--integer",
    "frozen_features": "--frozen",
    "one_hot_groups": "--one-hot",
    "round_fractional": "--round-fractional",
    "bounds": "--bounds",
}

_OPTIONS = (
    click.option(
        "--bounds",
        "bounds_file",
        metavar="FILE.toml",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Per-column bounds on the poison rows, in the CSV's units, intersected with "
        "the box (and with --within-range): a TOML file with one table, e.g. '[bounds]' "
        "then 'age = [18, 90]' and 'bmi = [10, inf]' (inf / -inf: no bound on that side). "
        "Columns not listed are bounded by the box alone.",
    ),
    click.option(
        "--integer",
        "integer",
        metavar="COLS",
        help="Columns that hold integers (comma-separated names, or 0-based positions in "
        "the CSV's header): each poison row is rounded inside the box, then a search "
        "among the neighbouring integers keeps the rounding with the best W; poison.csv "
        "writes them as integers. Every row of the file must hold an integer there (3 or "
        "3.0), else the column is refused unless --round-fractional. Not with --standardize.",
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
        help="Columns the attacker cannot choose (comma-separated names or 0-based "
        "positions): every poison row keeps the values of the clean training row it is "
        "cloned from.",
    ),
    click.option(
        "--one-hot",
        "one_hot",
        metavar="COLS",
        multiple=True,
        help="A group of 0/1 columns encoding one category (comma-separated names or 0-based "
        "positions, at least 2; repeat the option for each group): every poison row holds "
        "a valid one-hot vector there. Not with --standardize.",
    ),
)


def constraint_options(function: F) -> F:
    """The options ``--bounds``, ``--integer``, ``--round-fractional``, ``--frozen`` and
    ``--one-hot``."""
    for option in reversed(_OPTIONS):
        function = option(function)
    return function


def check_constraint_options(params: dict) -> None:
    """Refuse --integer and --one-hot with --standardize, and --round-fractional without
    --integer (before anything runs)."""
    if params["round_fractional"] and params["integer"] is None:
        raise click.UsageError(
            "--round-fractional applies to --integer columns; give --integer COLS, or drop it"
        )
    if params["standardize"] and (params["integer"] is not None or params["one_hot"]):
        raise click.UsageError(
            "--integer and --one-hot do not apply with --standardize: the attack runs in "
            "standardised units, where a column's integers are not integers; attack in "
            "the data file's units (--frozen and --bounds work with --standardize)"
        )


def _columns(option: str, value: str, columns: tuple[str, ...], target: str, features) -> list[int]:
    """The feature indices of COLS: comma-separated names of the data file's columns, or
    their 0-based positions in its header (a name wins over a position)."""
    where = {name: k for k, name in enumerate(features)}
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
        if name == target:
            raise click.BadParameter(
                f"{name!r} is the target column (--target-column), not a feature",
                param_hint=f"'{option}'",
            )
        if name not in where:
            shown = ", ".join(features[:20]) + (", ..." if len(features) > 20 else "")
            raise click.BadParameter(
                f"no feature column {item!r} in the data file (its feature columns: {shown})",
                param_hint=f"'{option}'",
            )
        out.append(where[name])
    return out


def constraints_from(table, dataset, params: dict) -> dict:
    """The attack's feature constraints from --integer, --frozen, --one-hot and
    --round-fractional, as feature indices (only those given), for the data file's
    ``table`` and ``dataset`` (:func:`~flexpoison.cli.common.read_data`). Without
    --round-fractional, an --integer column holding a fraction on any line of the file
    is refused there (:func:`flexpoison.attack.constraints.check_integers`)."""
    from ..attack.constraints import check_integers

    columns, target, features = table.columns, dataset.target_name, dataset.feature_names
    out: dict[str, Any] = {}
    if params["integer"] is not None:
        out["integer_features"] = _columns(
            "--integer", params["integer"], columns, target, features
        )
        if params["round_fractional"]:
            out["round_fractional"] = True
        else:
            check_integers(
                dataset.X,
                out["integer_features"],
                where=lambda row: f"line {table.lines[row]} of {table.path.name}",
            )
    if params["frozen"] is not None:
        out["frozen_features"] = _columns("--frozen", params["frozen"], columns, target, features)
    if params["one_hot"]:
        out["one_hot_groups"] = [
            _columns("--one-hot", group, columns, target, features) for group in params["one_hot"]
        ]
    return out


def integer_columns(constraints: dict, features) -> list[str]:
    """The names of the columns poison.csv writes as integers (--integer, --one-hot)."""
    indices = [
        *constraints.get("integer_features", ()),
        *(j for group in constraints.get("one_hot_groups", ()) for j in group),
    ]
    return [features[j] for j in indices]


def frozen_exact(X_poison, constraints: dict, X):
    """The poison rows with each --frozen column set to the observed value nearest it:
    its source row's, exactly, also after the round trip through --standardize."""
    import numpy as np

    frozen = constraints.get("frozen_features")
    if not frozen:
        return X_poison
    X_poison = np.array(X_poison, dtype=float)
    for j in frozen:
        observed = np.unique(np.asarray(X[:, j], dtype=float))
        v = X_poison[:, j]
        k = np.clip(np.searchsorted(observed, v), 1, observed.size - 1)
        below = np.abs(v - observed[k - 1]) <= np.abs(observed[k] - v)
        X_poison[:, j] = observed[np.where(below, k - 1, k)]
    return X_poison


def read_bounds(path: Path, features, target: str):
    """(lower, upper) per feature from a --bounds file (module docstring), in the data
    file's units; ±inf where it gives none. An unknown column, the target column or a
    malformed entry is refused by name."""
    import math
    import tomllib

    import numpy as np

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
    d = len(features)
    lower, upper = np.full(d, -np.inf), np.full(d, np.inf)
    for name, value in table.items():
        if name == target:
            raise refuse(f"{name!r} is the target column (--target-column), not a feature")
        if name not in features:
            shown = ", ".join(features[:20]) + (", ..." if d > 20 else "")
            raise refuse(
                f"no feature column {name!r} in the data file (its feature columns: {shown})"
            )
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise refuse(
                f"{name} = {value!r}: expected [lower, upper], two numbers (inf or -inf "
                "for no bound on that side)"
            )
        lo, hi = (float(v) for v in value)
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise refuse(f"{name} = {value!r}: expected lower <= upper")
        j = list(features).index(name)
        lower[j], upper[j] = lo, hi
    return lower, upper


def warnings_in_units(result, split, bounds, n_sigma: float) -> list[str]:
    """The result's warnings; with --standardize, the range warning's values in the data
    file's units (:func:`flexpoison.attack.constraints.range_warning`)."""
    import numpy as np

    from ..attack.constraints import range_warning

    warned = list(result.warnings)
    if split.scaler is None:
        return warned
    X_poison = np.asarray(result.X_poison)
    standardised = range_warning(X_poison, split.X_train, n_sigma, bounds)
    if standardised in warned:
        in_units = range_warning(
            split.to_data_units(X_poison), split.to_data_units(split.X_train), n_sigma, bounds
        )
        warned[warned.index(standardised)] = in_units or standardised
    return warned


def with_user_bounds(bounds, user, scaler):
    """The --bounds file's bounds mapped into the attack's space (--standardize) and
    intersected with --within-range's (``bounds``, or None)."""
    import numpy as np

    lower, upper = user
    if scaler is not None:  # z = (x − mean) / scale, scale > 0: ±inf stays ±inf
        lower = (lower - scaler.mean_) / scaler.scale_
        upper = (upper - scaler.mean_) / scaler.scale_
    if bounds is not None:
        lower, upper = np.maximum(lower, bounds[0]), np.minimum(upper, bounds[1])
    return lower, upper


__all__ = [
    "FLAGS",
    "constraint_options",
    "check_constraint_options",
    "constraints_from",
    "integer_columns",
    "frozen_exact",
    "read_bounds",
    "with_user_bounds",
    "warnings_in_units",
]
