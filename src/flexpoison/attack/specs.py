"""The feature constraints as a user states them: which columns, in the data's units.

One declaration serves every entry point: :class:`FlexiblePoisoning`'s keyword
arguments, the ART adapter (the same names), ``flexpoison attack`` and ``frontier``
(``--integer``, ``--frozen``, ``--one-hot``, ``--round-fractional``, ``--bounds
FILE.toml``, ``--within-range``) and a sweep file's data-set tables (the same keys,
spelled ``integer``, ``frozen``, ``one_hot``, ``round_fractional``, ``bounds``,
``within_range``). :class:`Specs` holds them; :mod:`flexpoison.attack.constraints`
checks them against the clean rows and does the rounding.

**Naming a column.** A string names a column of X (a pandas DataFrame's ``columns``;
refused when X has no column names, and when several columns hold the name); an
integer is a 0-based column index.

**Bounds** (:func:`resolve_bounds`) are either ``(lower, upper)``, two arrays of one
value per feature, or a mapping by column, ``{"age": (18, 90), 3: (0, None)}``: keys
name columns as above (string: a name, integer: an index), each value ``[lower,
upper]`` with ``±inf`` or ``None`` for no bound on that side; columns not listed are
unbounded. The command line's and the sweep file's ``[bounds]`` tables (``age = [18,
90]``; TOML keys are always strings, so there they are names) are read by the same
function.

**Data units** (:class:`Units`). An attack may run on standardised rows z = (x −
mean) / scale (``flexpoison attack --standardize``, the frontier, a sweep, ART's
``preprocessing``). ``data_units=(mean, scale)`` says so: integer features and one-hot
groups are then integers of x, the data as recorded, and rows are rounded there.
Bounds stay in the units of the X the attack is given; :meth:`Specs.attack_arguments`
maps the user's bounds (in the data's units) into that space.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_bounds
from ..errors import InvalidInputError

#: The attack's constraint arguments (FlexiblePoisoning's and the ART adapter's names).
ATTACK_ARGUMENTS = (
    "integer_features",
    "frozen_features",
    "one_hot_groups",
    "round_fractional",
    "bounds",
)


def label(j: int, names: Sequence[str] | None) -> str:
    """``feature 3 ('age')``: a feature as messages name it."""
    return f"feature {j}" + (f" ({names[j]!r})" if names else "")


def feature_index(item, argument: str, d: int, names: Sequence[str] | None) -> int:
    """The index of the feature ``item`` names: a column name held by exactly one column
    of X, or a 0-based index; anything else refused, naming ``argument``."""
    if isinstance(item, str):
        if names is None:
            raise InvalidInputError(
                f"{argument}: {item!r} names a column, but X has no column names "
                "(give a pandas DataFrame, or name features by index)"
            )
        held = [k for k, name in enumerate(names) if name == item]
        if not held:
            shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            raise InvalidInputError(
                f"{argument}: X has no column named {item!r} (its columns: {shown})"
            )
        if len(held) > 1:
            raise InvalidInputError(
                f"{argument}: {len(held)} columns of X are named {item!r} (positions "
                f"{', '.join(map(str, held))}), so the name does not say which; give "
                "X's columns unique names, or name the feature by its position"
            )
        return held[0]
    if isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_)):
        j = int(item)
        if not 0 <= j < d:
            raise InvalidInputError(
                f"{argument}: feature index {j} is out of range (X has {d} features: 0 to {d - 1})"
            )
        return j
    raise InvalidInputError(f"{argument}: expected column names or integer indices, got {item!r}")


def feature_indices(spec, argument: str, d: int, names: Sequence[str] | None) -> list[int]:
    """The feature indices a list of column names or indices designates (none twice)."""
    if spec is None:
        return []
    if isinstance(spec, (str, bytes, numbers.Number)):
        raise InvalidInputError(
            f"{argument}: expected a list of column names or indices, got {spec!r} "
            f"(write [{spec!r}])"
        )
    try:
        items = list(spec)
    except TypeError:
        raise InvalidInputError(
            f"{argument}: expected a list of column names or indices, got {spec!r}"
        ) from None
    out: list[int] = []
    for item in items:
        j = feature_index(item, argument, d, names)
        if j in out:
            raise InvalidInputError(f"{argument}: {label(j, names)} is given twice")
        out.append(j)
    return out


def feature_column(name: str, features: Sequence[str], target: str | None, argument: str) -> int:
    """The index of the feature column ``name`` of a data set whose feature columns are
    ``features`` and whose target column is ``target``; the target, or a name no
    feature holds, refused naming ``argument`` (a command's option, a sweep file's key)."""
    if name == target:
        raise InvalidInputError(f"{argument}: {name!r} is the target column, not a feature")
    if name not in features:
        shown = ", ".join(features[:20]) + (", ..." if len(features) > 20 else "")
        raise InvalidInputError(
            f"{argument}: no feature column {name!r} in the data (its feature columns: {shown})"
        )
    return list(features).index(name)


def _side(value) -> float | None:
    """One end of a bound as a float (None: no bound), or None if it is not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def resolve_bounds(bounds, d: int, names: Sequence[str] | None = None):
    """``bounds`` (module docstring) as ``(lower, upper)``, two float arrays of length
    ``d`` (±inf where unbounded), or None. Every refusal names ``bounds`` and the column."""
    if bounds is None:
        return None
    if not isinstance(bounds, Mapping):
        return check_bounds(bounds, d)
    lower, upper = np.full(d, -np.inf), np.full(d, np.inf)
    seen: set[int] = set()
    for key, value in bounds.items():
        j = feature_index(key, "bounds", d, names)
        where = f"bounds: {label(j, names)}"
        if j in seen:
            raise InvalidInputError(f"{where} is given twice")
        seen.add(j)
        pair = list(value) if isinstance(value, (list, tuple)) else []
        ends = [_side(v) for v in pair]
        if len(pair) != 2 or any(v is None and p is not None for v, p in zip(ends, pair)):
            raise InvalidInputError(
                f"{where}: expected [lower, upper], two numbers (inf, -inf or None for no "
                f"bound on that side), got {value!r}"
            )
        lo = -np.inf if ends[0] is None else ends[0]
        hi = np.inf if ends[1] is None else ends[1]
        if np.isnan(lo) or np.isnan(hi) or lo > hi:
            raise InvalidInputError(f"{where}: expected lower <= upper, got {value!r}")
        lower[j], upper[j] = lo, hi
    return lower, upper


def named_bounds(table: Mapping, features: Sequence[str], target: str | None, argument: str):
    """A ``[bounds]`` table of a data set by column name (a --bounds file's, a sweep
    file's), each key a feature column (:func:`feature_column`), each value checked by
    :func:`resolve_bounds`; returns (lower, upper)."""
    for name in table:
        feature_column(name, features, target, argument)
    return resolve_bounds(dict(table), len(features), list(features))


def bounds_json(bounds) -> Any:
    """Bounds as JSON values (JSON has no ±inf: an unbounded side is null): a mapping
    stays one (keys as text), arrays stay a pair of lists."""

    def side(v) -> float | None:
        v = float(v)
        return v if np.isfinite(v) else None

    if bounds is None:
        return None
    if isinstance(bounds, Mapping):
        return {
            str(k): [None if v is None else side(v) for v in value] for k, value in bounds.items()
        }
    return [[side(v) for v in np.asarray(b, dtype=float).ravel()] for b in bounds]


@dataclass(frozen=True)
class Units:
    """The data's units of an attack on standardised rows: x = z·scale + mean."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, data_units, d: int) -> Units | None:
        """``data_units=(mean, scale)`` checked (finite, one value per feature, scale ≠ 0)."""
        if data_units is None:
            return None
        try:
            mean, scale = (
                np.broadcast_to(np.asarray(v, dtype=float), (d,)).copy() for v in data_units
            )
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"data_units: expected (mean, scale), each a number or {d} numbers"
            ) from None
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale != 0)):
            raise InvalidInputError("data_units: mean and scale must be finite, scale non-zero")
        return cls(mean, scale)

    def to_data(self, z: np.ndarray, columns) -> np.ndarray:
        """Values of the attack's space at ``columns`` in the data's units."""
        return np.asarray(z, dtype=float) * self.scale[columns] + self.mean[columns]

    def to_attack(self, x: np.ndarray, columns) -> np.ndarray:
        """Values in the data's units at ``columns`` in the attack's space."""
        return (np.asarray(x, dtype=float) - self.mean[columns]) / self.scale[columns]


def snap(x: np.ndarray, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """``x`` with values within r·max(1, |x|) of an integer set to it, r = max(1e-9,
    16·ε of ``dtype``, the precision of the rows): integers that came back through a
    standardisation, held as the integers they were."""
    rounded = np.round(x)
    r = max(1e-9, 16 * float(np.finfo(np.dtype(dtype)).eps))
    return np.where(np.abs(x - rounded) <= r * np.maximum(1.0, np.abs(x)), rounded, x)


#: A poison value within this share of max(1, |v|) of a value the clean rows hold in
#: its column differs from it by rounding alone (:func:`as_recorded`).
RECORDED_TOLERANCE = 1e-9


def as_recorded(X_poison, X, frozen: Sequence[int] = ()) -> np.ndarray:
    """The poison rows ``X_poison``, mapped back to the data's units (x = z·scale + mean
    after a standardisation, which rounds), with the values the clean rows ``X`` hold
    restored exactly: in each column j, a value v with

        |v − x| ≤ RECORDED_TOLERANCE · max(1, |v|),   x the clean value of column j nearest v,

    becomes x (a copied row reads 1.5, as the data does, not 1.4999999999999998), and
    in each ``frozen`` column every value becomes that nearest x (its source row's: a
    frozen value is a clean row's by construction). Other values are the attack's and
    are kept. Returns a new float64 array."""
    out = np.array(X_poison, dtype=float)
    X = np.asarray(X, dtype=float)
    held = {int(j) for j in frozen}
    for j in range(X.shape[1]):
        observed = np.unique(X[:, j][np.isfinite(X[:, j])])
        if observed.size == 0 or out.shape[0] == 0:
            continue
        v = out[:, j]
        k = np.searchsorted(observed, v)
        below = observed[np.clip(k - 1, 0, observed.size - 1)]
        above = observed[np.clip(k, 0, observed.size - 1)]
        nearest = np.where(np.abs(v - below) <= np.abs(above - v), below, above)
        close = np.abs(v - nearest) <= RECORDED_TOLERANCE * np.maximum(1.0, np.abs(v))
        out[:, j] = nearest if j in held else np.where(close, nearest, v)
    return out


@dataclass(frozen=True)
class Specs:
    """The feature constraints as a user gives them (module docstring), before
    :func:`flexpoison.attack.constraints.resolve` checks them against X: the attack's
    :data:`ATTACK_ARGUMENTS` and the commands' ``within_range`` (the box also within
    the range the clean training rows show). Kept together so that whatever takes the
    constraints passes on every one of them."""

    integer_features: Any = None
    frozen_features: Any = None
    one_hot_groups: Any = None
    round_fractional: bool = False
    bounds: Any = None
    within_range: bool = False

    def attack_arguments(self, X: np.ndarray, names: Sequence[str] | None, scaler=None) -> dict:
        """:class:`FlexiblePoisoning`'s constraint arguments for the training rows X of
        the attack's space, columns named by ``names`` turned into indices. ``scaler``
        (a fitted StandardScaler, or None) maps the data's units, where the specs are
        stated, to that space: the bounds (by name or arrays) are mapped through it and
        intersected with X's range if ``within_range``, and it is passed on as
        ``data_units``."""
        if not isinstance(self.within_range, (bool, np.bool_)):
            raise InvalidInputError(
                f"within_range: expected True or False, got {self.within_range!r}"
            )
        X = np.asarray(X, dtype=float)
        d = X.shape[1]
        bounds = resolve_bounds(self.bounds, d, names)
        if bounds is not None and scaler is not None:  # z = (x − mean) / scale, scale > 0
            bounds = tuple((b - scaler.mean_) / scaler.scale_ for b in bounds)
        if self.within_range:
            low, high = X.min(axis=0), X.max(axis=0)
            bounds = (
                (low, high)
                if bounds is None
                else (np.maximum(bounds[0], low), np.minimum(bounds[1], high))
            )

        def indices(spec, argument: str) -> list[int] | None:
            return None if spec is None else feature_indices(spec, argument, d, names)

        groups = self.one_hot_groups
        if isinstance(groups, (str, bytes)) or not (groups is None or hasattr(groups, "__iter__")):
            raise InvalidInputError(
                f"one_hot_groups: expected a list of groups, each a list of column names or "
                f"indices, got {groups!r}"
            )
        out: dict[str, Any] = {  # columns as indices: X need not carry the names
            "integer_features": indices(self.integer_features, "integer_features"),
            "frozen_features": indices(self.frozen_features, "frozen_features"),
            "one_hot_groups": None
            if groups is None
            else [indices(g, f"one_hot_groups: group {k}") for k, g in enumerate(groups)],
            "round_fractional": self.round_fractional,
            "bounds": bounds,
        }
        if scaler is not None:
            out["data_units"] = (scaler.mean_, scaler.scale_)
        return out

    def __bool__(self) -> bool:
        """Whether any constraint is given."""
        return any(
            (
                self.integer_features is not None,
                self.frozen_features is not None,
                self.one_hot_groups is not None,
                self.bounds is not None,
                bool(self.within_range),
            )
        )

    def settings(self) -> dict:
        """The specs as JSON values (numpy integers as ints, ±inf as null)."""

        def plain(features) -> list | None:
            if features is None:
                return None
            if isinstance(features, (str, bytes, numbers.Number)):  # refused by resolve
                return [str(features)]
            return [int(f) if isinstance(f, numbers.Integral) else str(f) for f in features]

        groups = self.one_hot_groups
        return {
            "integer_features": plain(self.integer_features),
            "frozen_features": plain(self.frozen_features),
            "one_hot_groups": None if groups is None else [plain(g) for g in groups],
            "round_fractional": bool(self.round_fractional),
            "bounds": bounds_json(self.bounds),
            "within_range": bool(self.within_range),
        }


__all__ = [
    "ATTACK_ARGUMENTS",
    "Specs",
    "Units",
    "feature_index",
    "feature_indices",
    "feature_column",
    "resolve_bounds",
    "named_bounds",
    "bounds_json",
    "snap",
    "RECORDED_TOLERANCE",
    "as_recorded",
]
