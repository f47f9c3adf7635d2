"""The range warning: poison values the clean rows never show, by a margin that matters.

The n_sigma box can reach beyond the range of the clean rows (the 3σ box of a column
coded 1/2 reaches 2.97, a relative humidity 117 %), and such a value can give a poison
row away. A result warns when, on some feature j, a poison value v leaves the clean
rows' range [min_j, max_j] by more than :data:`RANGE_SHARE` of its width:

    excess_j = (v − max_j) / (max_j − min_j) > RANGE_SHARE      (above; below alike)

So the warning does **not** fire

* on a rounding tie: a 0/1 column whose poison holds 1.0000000000000002 after the
  round trip through the standardised space is inside the range to any reader;
* on a value a hair past the extremes: a new clean row is past the training rows'
  max with probability 1/(n + 1) too; 5 % of the width is past what a handful of
  new rows would show, and a poison value beyond it stands out;
* on a side of a feature the user bounded (``bounds``: they chose the limit there),
  nor on frozen or one-hot features (their values are clean rows' values by
  construction);
* on a constant feature (width 0: the box is a point there).

It does fire on an integer feature: integrality says nothing of the range, and a
count of 7 where the clean rows stop at 5 is as visible as any other.

The share is a ratio of differences, so the decision is the same in the data's units
and in the standardised space the experiments attack in; only the values printed
change, and :meth:`RangeWarning.restated` restates them in the data's units and
column names (:meth:`flexpoison.experiments.Experiment.attack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .._validation import check_bounds

#: A poison value warns when it lies beyond the clean rows' range by more than this
#: share of the feature's width (max − min): the module docstring says why.
RANGE_SHARE = 0.05


@dataclass(frozen=True)
class Excursion:
    """One side of one feature where the poison rows leave the clean rows' range.

    ``value`` is the poison rows' extreme there, ``limit`` the clean rows' (their min
    when ``value`` is below it, their max when above), ``width`` max − min (> 0)."""

    feature: int
    value: float
    limit: float
    width: float

    @property
    def excess(self) -> float:
        """|value − limit| / width: how far beyond the range, in shares of its width."""
        return abs(self.value - self.limit) / self.width

    def in_units(self, mean: float, scale: float) -> Excursion:
        """The same excursion with every value mapped by z ↦ mean + scale·z (scale > 0)."""
        return replace(
            self,
            value=mean + scale * self.value,
            limit=mean + scale * self.limit,
            width=scale * self.width,
        )

    def describe(self, names: Sequence[str] | None, short: bool = False) -> str:
        """E.g. "'fmde' 14.45 > max 8.294 (+74% of its range)" (``short``: "(+74%)")."""
        name = repr(names[self.feature]) if names else f"feature {self.feature}"
        sign, which = (">", "max") if self.value > self.limit else ("<", "min")
        value, limit = self.value + 0.0, self.limit + 0.0  # -0.0 reads 0
        return (
            f"{name} {value:.4g} {sign} {which} {limit:.4g} "
            f"({self.excess:+.0%}{'' if short else ' of its range'})"
        )


def excursions(
    X_poison: np.ndarray,
    X: np.ndarray,
    bounds=None,
    skip: Sequence[int] = (),
    share: float = RANGE_SHARE,
) -> tuple[Excursion, ...]:
    """Where the poison rows leave the clean rows' range X by more than ``share`` of a
    feature's width (module docstring), worst first.

    Parameters
    ----------
    X_poison : ndarray of shape (m, d)
    X : ndarray of shape (n, d)
        The clean rows.
    bounds : (lower, upper) or None
        The user's bounds; a finite bound exempts its side of the feature.
    skip : feature indices exempt on both sides (frozen, one-hot).
    """
    X_poison = np.asarray(X_poison, dtype=float)
    X = np.asarray(X, dtype=float)
    if X_poison.size == 0:
        return ()
    d = X.shape[1]
    if bounds is None:
        user_lower, user_upper = np.full(d, -np.inf), np.full(d, np.inf)
    else:
        user_lower, user_upper = check_bounds(bounds, d)
    low, high = X.min(axis=0), X.max(axis=0)
    width = high - low
    found = []
    for j in sorted(set(range(d)) - {int(k) for k in skip}):
        if not width[j] > 0.0:
            continue
        p_low, p_high = X_poison[:, j].min(), X_poison[:, j].max()
        if user_lower[j] == -np.inf and low[j] - p_low > share * width[j]:
            found.append(Excursion(j, float(p_low), float(low[j]), float(width[j])))
        if user_upper[j] == np.inf and p_high - high[j] > share * width[j]:
            found.append(Excursion(j, float(p_high), float(high[j]), float(width[j])))
    return tuple(sorted(found, key=lambda e: -e.excess))


class RangeWarning(str):
    """The range warning's text, which keeps its excursions so that it can be restated
    in other units and names (:meth:`restated`) and shortened (:meth:`brief`).

    It is a ``str``: results carry it among their other warnings, and files store its
    text."""

    excursions: tuple[Excursion, ...]
    n_sigma: float
    names: tuple[str, ...] | None

    def __new__(
        cls,
        found: Sequence[Excursion],
        n_sigma: float,
        names: Sequence[str] | None = None,
    ) -> RangeWarning:
        names = None if names is None else tuple(str(n) for n in names)
        text = (  # worst first, so that any head of it names the worst column
            f"poison rows leave the clean rows' range in {_count(found)}: "
            + "; ".join(e.describe(names) for e in found)
            + f"; the {n_sigma:g}σ box allows it, but such values can give the rows away: "
            "bound these columns (e.g. at the clean rows' min and max)"
        )
        self = super().__new__(cls, text)
        self.excursions = tuple(found)
        self.n_sigma = float(n_sigma)
        self.names = names
        return self

    def __reduce__(self):
        return (RangeWarning, (self.excursions, self.n_sigma, self.names))

    def restated(self, mean, scale, names: Sequence[str] | None = None) -> RangeWarning:
        """This warning in the units x = mean + scale·z (per feature; None: as it is)
        and the column ``names`` (None: those it has)."""
        found = self.excursions
        if mean is not None and scale is not None:
            found = tuple(e.in_units(mean[e.feature], scale[e.feature]) for e in found)
        return RangeWarning(found, self.n_sigma, self.names if names is None else names)

    def brief(self, options: Sequence[str] = (), short: bool = False) -> str:
        """One short line: the count, the worst column (``short``: its excess as a bare
        percentage) and, if a command has options that bound the poison rows, those
        ``options``."""
        fix = f"; bound them: {', '.join(options)}" if options else ""
        worst = self.excursions[0].describe(self.names, short)
        count = _count(self.excursions)
        verb = "leaves" if count.startswith("1 ") else "leave"
        return f"{count} {verb} the clean range, worst {worst}{fix}"


def _count(found: Sequence[Excursion]) -> str:
    columns = len({e.feature for e in found})
    return f"{columns} column{'s' if columns != 1 else ''}"


def range_warning(
    X_poison: np.ndarray,
    X: np.ndarray,
    n_sigma: float | None,
    bounds=None,
    names: Sequence[str] | None = None,
    skip: Sequence[int] = (),
) -> RangeWarning | None:
    """The warning of an attack whose poison rows leave the clean rows' range X by a
    margin that matters (module docstring); None when they do not, or when there is
    no box (``n_sigma`` None: the user's bounds alone)."""
    if n_sigma is None:
        return None
    found = excursions(X_poison, X, bounds, skip)
    return RangeWarning(found, n_sigma, names) if found else None


def restate(warnings: Sequence[str], mean, scale, names: Sequence[str] | None) -> tuple[str, ...]:
    """``warnings`` with the range warning among them restated in the units
    x = mean + scale·z and the column ``names`` (:meth:`RangeWarning.restated`)."""
    return tuple(
        w.restated(mean, scale, names) if isinstance(w, RangeWarning) else w for w in warnings
    )


__all__ = [
    "RANGE_SHARE",
    "Excursion",
    "excursions",
    "RangeWarning",
    "range_warning",
    "restate",
]
