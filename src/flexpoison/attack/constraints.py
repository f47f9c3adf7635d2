"""Feature constraints: poison rows whose features are frozen, integers or one-hot.

A poison row should be a row the data could hold. ``FlexiblePoisoning`` takes
``frozen_features`` (each point keeps its source row's values there: the descent runs
in the box pinned at them), ``integer_features`` (the box's ends rounded inward; clean
rows must hold integers there unless ``round_fractional=True``) and ``one_hot_groups``
(one 1 per group, or at most one with a dropped reference category), each naming
features by column name or index (:func:`resolve`). A point's continuous optimum is
rounded and then repaired by a coordinate search among the discrete values next to it
that never scores worse than plain rounding (:func:`repair`); its E, θ_p and C are
those of the discrete row. The full rules, with what is refused and why, are in the
documentation's "Feature constraints" page (``docs/constraints.rst``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .box import Box
from .ranges import range_warning
from .specs import ATTACK_ARGUMENTS, Specs, Units, snap
from .specs import feature_indices as _features
from .specs import label as _label

#: Passes of the repair's coordinate search at most.
MAX_PASSES = 5


@dataclass(frozen=True)
class OneHotGroup:
    """The columns of one one-hot group and its valid vectors (rows of ``choices``,
    each inside the box)."""

    columns: np.ndarray
    choices: np.ndarray

    def nearest(self, values: np.ndarray) -> np.ndarray:
        """The valid vector nearest ``values`` (first of ties)."""
        distance = ((self.choices - values) ** 2).sum(axis=1)
        return self.choices[int(np.argmin(distance))].copy()


@dataclass(frozen=True)
class Constraints:
    """Resolved feature constraints (module docstring), as feature indices.

    ``frozen`` is None when no feature is frozen; ``eligible`` the clean rows whose
    frozen values lie inside the box (None: every row); ``integer`` excludes frozen
    and one-hot columns, and ``integer_lower``/``integer_upper`` are its box rounded
    inward. With ``units`` (an attack on standardised rows,
    :class:`~flexpoison.attack.specs.Units`) the integers, the groups' vectors and
    ``integer_lower``/``integer_upper`` are the data's, and a row is rounded there."""

    frozen: np.ndarray | None
    integer: np.ndarray
    integer_lower: np.ndarray
    integer_upper: np.ndarray
    groups: tuple[OneHotGroup, ...]
    eligible: np.ndarray | None
    names: Sequence[str] | None = None  # X's column names, for messages
    units: Units | None = None

    def _data(self, z: np.ndarray, columns) -> np.ndarray:
        return z if self.units is None else self.units.to_data(z, columns)

    def _attack(self, x: np.ndarray, columns) -> np.ndarray:
        return x if self.units is None else self.units.to_attack(x, columns)

    @property
    def discrete(self) -> bool:
        """Whether a point is rounded and repaired (integer features or groups)."""
        return bool(self.integer.size or self.groups)

    def round(self, x: np.ndarray) -> np.ndarray:
        """Plain rounding (module docstring, step 1)."""
        out = np.array(x, dtype=float)
        j = self.integer
        rounded = np.floor(self._data(out[j], j) + 0.5)
        out[j] = self._attack(np.clip(rounded, self.integer_lower, self.integer_upper) + 0.0, j)
        for group in self.groups:
            c = group.columns
            out[c] = self._attack(group.nearest(self._data(out[c], c)), c)
        return out

    def blocks(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The repair's coordinates (module docstring, step 2): (indices, choices) per
        integer feature (⌊x_j⌋ and ⌈x_j⌉ inside its box) and per group."""
        out = []
        for k, j in enumerate(self.integer):
            lo, hi = self.integer_lower[k], self.integer_upper[k]
            v = float(self._data(x[j], j))
            values = np.unique(np.clip([np.floor(v), np.ceil(v)], lo, hi)) + 0.0  # not -0.0
            out.append((np.array([j]), self._attack(values, j)[:, None]))
        out.extend((g.columns, self._attack(g.choices, g.columns)) for g in self.groups)
        return out


@dataclass(frozen=True)
class Repaired:
    """The outcome of :func:`repair`: the repaired row and what ``evaluate`` gave there,
    plain rounding's row and value, and how many coordinates (integer features or
    groups) the repair changed from plain rounding."""

    x: np.ndarray
    value: Any
    rounded: np.ndarray
    rounded_value: Any
    changed: int


def repair(
    x: np.ndarray,
    constraints: Constraints,
    evaluate: Callable[[np.ndarray], Any],
    key: Callable[[Any], Any] = lambda value: value,
    max_passes: int = MAX_PASSES,
) -> Repaired:
    """Round the continuous point ``x`` and repair the rounding (module docstring):
    ``evaluate(row)`` is called on discrete rows, and ``key(value)`` is the score the
    repair lowers (the value itself by default: W). The repaired row's score is never
    above plain rounding's."""
    rounded = constraints.round(x)
    blocks = constraints.blocks(x)
    rounded_value = evaluate(rounded)
    current, value, best = rounded, rounded_value, key(rounded_value)
    for _ in range(max_passes):
        improved = False
        for columns, choices in blocks:
            for choice in choices:
                if np.array_equal(current[columns], choice):
                    continue
                trial = current.copy()
                trial[columns] = choice
                trial_value = evaluate(trial)
                score = key(trial_value)
                if score < best:
                    current, value, best, improved = trial, trial_value, score, True
        if not improved:
            break
    changed = sum(not np.array_equal(current[c], rounded[c]) for c, _ in blocks)
    return Repaired(current, value, rounded, rounded_value, changed)


# ------------------------------------------------------------------- resolving specs


def check_integers(
    X: np.ndarray,
    columns: Sequence[int],
    names: Sequence[str] | None = None,
    where: Callable[[int], str] = lambda row: f"row {row}",
    remedy: str = "drop it from the integer features, or ask for the poison rows to be "
    "rounded all the same (round_fractional=True)",
) -> None:
    """Refuse a column of X among ``columns`` (feature indices of ``integer_features``)
    that holds a value which is not an integer (3.0 is one), naming the column, the
    first such value, where it is (``where(row)``: "row 3" in X; a file line on the
    command line), and the remedies: round the column, or the ``remedy`` in the
    caller's terms (the command line's: --integer, --round-fractional)."""
    for j in columns:
        values = np.asarray(X[:, j], dtype=float)
        fractional = np.flatnonzero(values != np.floor(values))
        if fractional.size:
            row = int(fractional[0])
            others = fractional.size - 1
            more = f" (and {others} more row{'s' * (others > 1)})" if others else ""
            raise InvalidInputError(
                f"integer_features: {_label(j, names)} holds {float(values[row])!r} at "
                f"{where(row)}{more}, not an integer; round the column yourself, {remedy}"
            )


def resolve(
    given: Specs,
    X: np.ndarray,
    box: Box,
    names: Sequence[str] | None = None,
    units: Units | None = None,
) -> Constraints | None:
    """The constraints the user's specs describe, checked against the clean rows X
    (float64) and the box; None when there are none. With ``units`` (X standardised)
    the integers and one-hot values are checked in the data's units. Every refusal is
    one :class:`~flexpoison.errors.InvalidInputError` naming the argument and feature."""
    integer_features = given.integer_features
    frozen_features, one_hot_groups = given.frozen_features, given.one_hot_groups
    if not isinstance(given.round_fractional, (bool, np.bool_)):
        raise InvalidInputError(
            f"round_fractional: expected True or False, got {given.round_fractional!r}"
        )
    if integer_features is None and frozen_features is None and one_hot_groups is None:
        return None
    n, d = X.shape
    data_box, X_data = box, X
    if units is not None:  # integers are the data's: check and round them there
        every = np.arange(d)
        ends = np.sort([units.to_data(box.lower, every), units.to_data(box.upper, every)], axis=0)
        data_box = Box(snap(ends[0], box.dtype), snap(ends[1], box.dtype))
        X_data = snap(units.to_data(X, every), box.dtype)
    integer = _features(integer_features, "integer_features", d, names)
    if not given.round_fractional:
        check_integers(X_data, integer, names)
    frozen = _features(frozen_features, "frozen_features", d, names)
    if one_hot_groups is None:
        specs: list = []
    elif isinstance(one_hot_groups, (str, bytes)) or not hasattr(one_hot_groups, "__iter__"):
        raise InvalidInputError(
            f"one_hot_groups: expected a list of groups, each a list of column names or "
            f"indices, got {one_hot_groups!r}"
        )
    else:
        specs = list(one_hot_groups)
    groups: list[OneHotGroup] = []
    grouped: dict[int, int] = {}
    for g, spec in enumerate(specs):
        columns = _features(spec, f"one_hot_groups: group {g}", d, names)
        if len(columns) < 2:
            raise InvalidInputError(
                f"one_hot_groups: group {g}: a one-hot group needs at least 2 columns, got "
                f"{len(columns)}"
            )
        for j in columns:
            if j in grouped:
                raise InvalidInputError(
                    f"one_hot_groups: group {g}: {_label(j, names)} is also in group {grouped[j]}"
                )
            if j in frozen:
                raise InvalidInputError(
                    f"one_hot_groups: group {g}: {_label(j, names)} is also frozen; to keep the "
                    "source row's category, freeze every column of the group and do not "
                    "declare the group"
                )
            grouped[j] = g
        groups.append(_group(g, np.array(columns), X_data, data_box, names))
    if not (integer or frozen or groups):  # empty lists: no constraint
        return None
    integer = [j for j in integer if j not in frozen and j not in grouped]
    idx = np.array(integer, dtype=int)
    lower, upper = np.ceil(data_box.lower[idx]), np.floor(data_box.upper[idx])
    if np.any(lower > upper):
        k = int(np.argmax(lower > upper))
        j = integer[k]
        raise InvalidInputError(
            f"integer_features: the box of {_label(j, names)}, "
            f"[{data_box.lower[j]:.6g}, {data_box.upper[j]:.6g}], holds no integer; widen "
            "its bounds or n_sigma, or do not declare it an integer"
        )
    eligible = None
    fixed = np.array(frozen, dtype=int) if frozen else None
    if fixed is not None:
        values = X[:, fixed]
        inside = np.all((values >= box.lower[fixed]) & (values <= box.upper[fixed]), axis=1)
        if not inside.any():
            raise InvalidInputError(
                "frozen_features: no clean row has its frozen features inside the box, so "
                "no row can be a poison point's source; widen the bounds or n_sigma"
            )
        eligible = np.flatnonzero(inside)
    return Constraints(fixed, idx, lower, upper, tuple(groups), eligible, names, units)


def _group(
    g: int, columns: np.ndarray, X: np.ndarray, box: Box, names: Sequence[str] | None
) -> OneHotGroup:
    """One group's valid vectors, after checking that the clean rows are one-hot there."""
    values = X[:, columns]
    binary = (values == 0.0) | (values == 1.0)
    if not binary.all():
        row, k = map(int, np.argwhere(~binary)[0])
        raise InvalidInputError(
            f"one_hot_groups: group {g}: {_label(int(columns[k]), names)} holds "
            f"{values[row, k]:g} "
            f"in row {row}; a one-hot column holds 0 or 1 in every clean row"
        )
    ones = values.sum(axis=1)
    if np.any(ones > 1):
        row = int(np.argmax(ones > 1))
        raise InvalidInputError(
            f"one_hot_groups: group {g}: row {row} holds {int(ones[row])} ones in the group "
            f"({', '.join(_label(int(j), names) for j in columns)}); a one-hot group holds "
            "at most one 1 per clean row"
        )
    lower, upper = box.lower[columns], box.upper[columns]
    can0 = (lower <= 0.0) & (0.0 <= upper)
    can1 = (lower <= 1.0) & (1.0 <= upper)
    size = columns.size
    choices = [np.eye(size)[k] for k in range(size) if can1[k] and np.delete(can0, k).all()]
    if np.any(ones == 0) and can0.all():  # a dropped reference category
        choices.append(np.zeros(size))
    if not choices:
        raise InvalidInputError(
            f"one_hot_groups: group {g}: the box holds no valid one-hot vector of the group "
            f"({', '.join(_label(int(j), names) for j in columns)}): no column can be 1 "
            "while the others are 0; widen the bounds or n_sigma"
        )
    return OneHotGroup(columns, np.array(choices))


# ------------------------------------------------------- FlexiblePoisoning's side


def specs(attack) -> Specs:
    """An attack's constraints, as given (:data:`~flexpoison.attack.specs.ATTACK_ARGUMENTS`)."""
    return Specs(**{name: getattr(attack, name) for name in ATTACK_ARGUMENTS})


def settings(attack) -> dict:
    """An attack's constraint parameters (and ``data_units``) as JSON values."""
    out = specs(attack).settings()
    del out["within_range"]  # the commands' option: not an argument of the attack
    units = attack.data_units
    out["data_units"] = None if units is None else [np.ravel(v).tolist() for v in units]
    return out


def integer_dtypes(poison, X, constraints: Constraints | None):
    """A DataFrame of poison rows with its integer and one-hot columns in the integer
    dtype the user's DataFrame X has there (their values are integers)."""
    if constraints is None or not hasattr(poison, "columns") or not hasattr(X, "dtypes"):
        return poison
    columns = [*constraints.integer, *(j for g in constraints.groups for j in g.columns)]
    dtypes = {X.columns[j]: X.dtypes.iloc[j] for j in columns}
    cast = {c: dt for c, dt in dtypes.items() if getattr(dt, "kind", "") in "iu"}
    return poison.astype(cast) if cast else poison


def warnings(
    constraints: Constraints | None,
    X_poison: np.ndarray,
    X: np.ndarray,
    n_sigma,
    bounds,
    names: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """The warnings the feature ranges add to a result: :func:`range_warning`, silent
    on frozen and one-hot features (their values are clean rows' values)."""
    skip: list[int] = []
    if constraints is not None:
        names = constraints.names
        skip += [] if constraints.frozen is None else [int(j) for j in constraints.frozen]
        skip += [int(j) for g in constraints.groups for j in g.columns]
    found = range_warning(X_poison, np.asarray(X, dtype=float), n_sigma, bounds, names, skip)
    return () if found is None else (found,)


__all__ = [
    "MAX_PASSES",
    "Specs",
    "OneHotGroup",
    "Constraints",
    "Repaired",
    "repair",
    "check_integers",
    "resolve",
    "range_warning",
]
