"""Poison that passes the defender's filter: the sanitizers as constraints of the search.

``FlexiblePoisoning(evade=[...])`` names sanitizers of :mod:`flexpoison.defences`
(registry names or configured objects). Each crafted row is kept by each of them,
calibrated as the data owner calibrates it (``evade_calibration``):

* ``"clean"`` — :func:`flexpoison.defences.screen`'s own: thresholds from the clean
  training rows (the defender's trusted rows) at the sanitizer's ``clean_removal``;
* ``"poisoned"`` — the owner calibrates on the training set as screened, poison
  included (Koh, Steinhardt and Liang 2022): the centroids, the view's
  standardisation and the thresholds move with the poison. The attack re-calibrates
  after each point on the clean rows and the points so far, at a share raised so
  that, with all m points added, more rows than the sanitizer removes still score
  above the poison (:func:`poisoned_share`).

How each kind is held:

* **three_sigma, sphere, slab** are convex sets of the defender's view (a box, a ball
  per class around its centroid, a band along the centroid-difference direction),
  intersected with the attack's box: every iterate of the descent is projected onto
  the intersection (:mod:`flexpoison.attack.regions`), the thresholds shrunk by
  ``evade_margin``. For regression the view holds the response as one more
  coordinate: a row's sets depend on its response (:meth:`EvadingBox.target`).
* **loss**: ℓ(θ_p; x, y) ≤ τ at a look-ahead model (the points still to come as copies
  of this one; a classifier's later points are copies of its first, so that its
  look-ahead model is the final one). After the descent the point is moved onto it
  and stepped along its boundary (:mod:`flexpoison.attack.loss_constraint`); a row
  that still breaks it is pulled toward an anchor, a nearby clean row every constraint
  keeps (:func:`flexpoison.attack.evasion_check.settle`); the final check verifies it.
* **isolation_forest, lof, trim** and any other sanitizer are not constraints:
  :func:`flexpoison.attack.evasion_check.finish` screens the final set and pulls each
  rejected row toward a kept clean row of its class, a quarter of the way per round.

With ``frozen_features`` a point is projected onto the slice of the sets where its
row's frozen values hold (:meth:`Region.pinned`, :meth:`Evasion.constraints_for`).

The final check runs for every named sanitizer under the chosen calibration; the result
reports each one's decision, and with several that of the owner who runs them all
(:class:`~flexpoison.attack.result.OwnerScreening`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..defences import SANITIZERS, Sanitizer, get_sanitizer
from ..defences.base import Inputs, check_share
from ..defences.geometric import Geometry, Slab, Sphere, ThreeSigma
from ..defences.model_based import LossFilter
from ..errors import InvalidInputError
from .box import Box
from .loss_constraint import filter_losses
from .regions import Ball, Band, Region, Set, region

CALIBRATIONS = ("clean", "poisoned")
#: A point's pull toward its anchor: a grid of 1/PULL_GRID steps, then halvings.
PULL_GRID = 8
PULL_HALVINGS = 10


def resolve(evade) -> tuple[Sanitizer, ...]:
    """The sanitizers ``evade`` names (None or empty: none). One error for anything else
    than a list of registry names or sanitizer objects, listing the valid names."""
    if evade is None:
        return ()
    valid = ", ".join(SANITIZERS)
    if isinstance(evade, (str, bytes)) or not hasattr(evade, "__iter__"):
        raise InvalidInputError(
            f"evade: expected a list of sanitizer names ({valid}) or sanitizers, got {evade!r}"
        )
    out = []
    for item in evade:
        if isinstance(item, str) and item not in SANITIZERS:
            raise InvalidInputError(f"evade: unknown sanitizer {item!r}; expected one of {valid}")
        if not isinstance(item, (str, Sanitizer)):
            raise InvalidInputError(
                f"evade: expected sanitizer names ({valid}) or sanitizers, got {item!r}"
            )
        out.append(get_sanitizer(item))
    return tuple(out)


def check(attack, sanitizers: tuple[Sanitizer, ...]) -> None:
    """Refuse the settings an evading attack does not support, by name."""
    if not sanitizers:
        return
    if attack.evade_calibration not in CALIBRATIONS:
        raise InvalidInputError(
            f"evade_calibration: expected 'clean' or 'poisoned', got {attack.evade_calibration!r}"
        )
    margin = attack.evade_margin
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
        raise InvalidInputError(f"evade_margin: expected a number in [0, 1), got {margin!r}")
    responded = [s.name for s in sanitizers if isinstance(s, (Sphere, Slab))]
    if attack.optimize_y and responded:
        raise InvalidInputError(
            f"evade: {' and '.join(responded)} not supported with optimize_y (a regression "
            "row's sphere and slab depend on its response, and the descent projects the "
            "row and its response separately); three_sigma and the others are"
        )
    for name, why in (("strategy", "a strategy chooses its rows without the constraints"),):
        if getattr(attack, name):
            raise InvalidInputError(f"evade: not supported with {name} ({why})")


def poisoned_share(share: float, n: int, m: int) -> float:
    """The share of n calibration rows whose threshold keeps m poison rows under the
    owner's calibration on all n + m rows: a row is kept when its score is at most the
    (1 − share) quantile of the n + m scores, which holds when at least
    share·(n + m − 1) + 1 other rows score above it; so the attack aims below the
    threshold that leaves share·(n + m − 1) + 2 of the n rows above it."""
    raised = (share * (n + m - 1) + 2.0) / n
    if not raised < 1.0:
        raise InvalidInputError(
            f"evade_calibration: 'poisoned' with {m} poison rows and {n} rows in a class "
            "leaves no threshold to aim below; use fewer points or evade_calibration='clean'"
        )
    return raised


@dataclass(frozen=True)
class Calibrated:
    """The geometric sanitizers calibrated once: 3σ bounds (x), and the sphere's and
    slab's geometries, their thresholds shrunk by the margin."""

    lower: np.ndarray
    upper: np.ndarray
    geometries: tuple[Geometry, ...]

    def keeps(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each row (X, y) lies in every set (exact tests)."""
        inside = np.all((X >= self.lower) & (X <= self.upper), axis=1)
        for g in self.geometries:
            index = g.index(y)
            scores = g.scores(g.view(X, y), index)
            inside &= scores <= g.thresholds[index]
        return inside


@dataclass(frozen=True)
class EvadingBox(Box):
    """The attack's box with the geometric sanitizers' sets: :meth:`target` gives the
    :class:`~flexpoison.attack.regions.Region` of a row with target t (cached per
    class), and may move a regression response toward the clean responses' centre
    until its sets meet the box."""

    calibrated: Calibrated | None = None
    decode: Any = None  # encoded target → the user's label
    centre_t: float = 0.0  # regression: the response the sets are widest at
    cache: dict = field(default_factory=dict, compare=False, repr=False)
    frozen: np.ndarray | None = None  # frozen features: each Region projects on its slice

    def target(self, t: float) -> tuple[Box, float]:
        if t in self.cache:
            return self.cache[t], t
        found = self._region(t)
        if found is not None:
            self.cache[t] = found
            return found, t
        if self.calibrated is None or self.calibrated.geometries[0].classes is not None:
            raise InvalidInputError(
                f"evade: for the label {self.decode(np.array([t]))[0]!r}, the box and the "
                "sanitizers' sets share no point; lower evade_margin or widen the box"
            )
        inside, outside = 1.0, 0.0  # bisect the response toward the centre
        for _ in range(40):
            mid = 0.5 * (inside + outside)
            if self._region(t + mid * (self.centre_t - t)) is not None:
                inside = mid
            else:
                outside = mid
        moved = t + inside * (self.centre_t - t)
        found = self._region(moved)
        if found is None:
            raise InvalidInputError("evade: no response lets the sanitizers' sets meet the box")
        return found, moved

    def _region(self, t: float) -> Region | None:
        box = Box(self.lower, self.upper, self.dtype)
        calibrated = self.calibrated
        if calibrated is None:
            return region(box, np.zeros(self.lower.size), np.ones(self.lower.size), (), self.frozen)
        lower = np.maximum(self.lower, calibrated.lower)
        upper = np.minimum(self.upper, calibrated.upper)
        if np.any(lower > upper):
            return None
        box = Box(lower, upper, self.dtype)
        d = lower.size
        if not calibrated.geometries:
            return region(box, np.zeros(d), np.ones(d), (), self.frozen)
        y = self.decode(np.array([t]))
        sets: list[Set] = []
        view = calibrated.geometries[0].view
        for g in calibrated.geometries:
            k = int(g.index(y)[0])
            c, tau = g.centres[k], float(g.thresholds[k])
            u = None if g.directions is None else g.directions[k]
            if g.classes is not None:
                sets.append(Ball(c, tau) if u is None else Band(c, u, tau))
                continue
            gap = float((y[0] - view.mean[d]) / view.std[d]) - c[d]  # the response's
            if u is None:
                room = tau * tau - gap * gap
                if not room > 0.0:
                    return None
                sets.append(Ball(c[:d], float(np.sqrt(room))))
                continue
            a = float(np.linalg.norm(u[:d]))
            if a <= 1e-12:  # a band on the response alone
                if abs(gap * u[d]) > tau:
                    return None
                continue
            sets.append(Band(c[:d] - (gap * u[d] / a**2) * u[:d], u[:d] / a, tau / a))
        return region(box, view.mean[:d], view.std[:d], tuple(sets), self.frozen)


def _inputs(X: np.ndarray, y: np.ndarray, task: str) -> Inputs:
    return Inputs(X, y, X, y, task)  # type: ignore[arg-type]


@dataclass
class Evasion:
    """What an evading run shares: the sanitizers, how they are calibrated, the clean
    rows (float X, user labels y, encoded t), the victim and the planned points."""

    sanitizers: tuple[Sanitizer, ...]
    calibration: str
    margin: float
    task: str
    X: np.ndarray
    y: np.ndarray
    t: np.ndarray
    victim: Any
    estimator: Any
    m: int
    shift: np.ndarray
    base_box: Box
    constraints: Any = None  # feature constraints: rows are rounded when discrete
    cache: dict = field(default_factory=dict)  # what the clean calibration computes once
    lookahead: bool = True  # the loss at θ_p with the points to come as copies (settle)
    copies: bool = False  # every point after the first a copy of it (see crafted)

    @property
    def frozen(self) -> np.ndarray | None:
        """The frozen features' indices (None: none)."""
        return None if self.constraints is None else self.constraints.frozen

    def pinned(self, box: Box, x: np.ndarray) -> Box:
        """``box`` with the frozen features held at x's values (``box`` without any)."""
        frozen = self.frozen
        return box if frozen is None or not frozen.size else box.pinned(frozen, x[frozen])

    @property
    def geometric(self) -> tuple[Sanitizer, ...]:
        return tuple(s for s in self.sanitizers if isinstance(s, (Sphere, Slab, ThreeSigma)))

    @property
    def loss(self) -> LossFilter | None:
        return next((s for s in self.sanitizers if isinstance(s, LossFilter)), None)

    def rows(self, chosen) -> tuple[np.ndarray, np.ndarray]:
        """The calibration rows: the clean ones, and under the poisoned calibration the
        points so far."""
        if self.calibration == "clean" or not chosen:
            return self.X, self.y
        X = np.vstack([self.X, [c.x for c in chosen]])
        return X, np.r_[self.y, self.victim.decode(np.array([c.t for c in chosen]))]

    def share(self, sanitizer) -> float:
        """The share a sanitizer's threshold is calibrated at (raised under the
        poisoned calibration, :func:`poisoned_share`)."""
        share = check_share(getattr(sanitizer, "clean_removal", 0.05))
        if self.calibration == "clean":
            return share
        counts = [self.X.shape[0]] if self.victim.classes is None else None
        if counts is None:
            counts = [int(np.count_nonzero(self.y == c)) for c in np.unique(self.y)]
        return poisoned_share(share, min(counts), self.m)

    def calibrate(self, chosen) -> Calibrated:
        """The geometric sanitizers calibrated on :meth:`rows`, shrunk by the margin."""
        X, y = self.rows(chosen)
        data = _inputs(X, y, self.task)
        shrink = 1.0 - self.margin
        lower, upper = np.full(X.shape[1], -np.inf), np.full(X.shape[1], np.inf)
        geometries = []
        for s in self.geometric:
            raised = dataclasses.replace(s, clean_removal=self.share(s))  # type: ignore[type-var]
            if isinstance(raised, ThreeSigma):
                mean, std, k = raised.calibrate(data)
                lower = np.maximum(lower, mean - shrink * k * std)
                upper = np.minimum(upper, mean + shrink * k * std)
                continue
            g = raised.calibrate(data)  # type: ignore[attr-defined]
            geometries.append(dataclasses.replace(g, thresholds=shrink * g.thresholds))
        return Calibrated(lower, upper, tuple(geometries))

    def box(self, chosen) -> Box:
        """The attack's box with the sets of the geometric sanitizers calibrated on
        :meth:`rows` (the box itself when none is named)."""
        box = self.base_box
        if not self.geometric:
            return box
        if self.calibration == "clean" and "box" in self.cache:
            return self.cache["box"]
        centre_t = float(np.mean(self.t)) if self.victim.classes is None else 0.0
        evading = EvadingBox(
            box.lower,
            box.upper,
            box.dtype,
            self.calibrate(chosen),
            self.victim.decode,
            centre_t,
            frozen=self.frozen,
        )
        self.cache["box"] = evading
        return evading

    def constraints_for(self, box: Box):
        """The feature constraints of a point crafted in ``box`` (:meth:`box`). With
        frozen features and geometric sets, the rows a start may come from
        (``eligible``) are narrowed to those whose frozen values leave a point of the
        sets for every target a start may take — each class; for regression the row's
        own response and the lowest and highest — so that no point is crafted in a slice
        of the sets that its frozen values put out of reach (:meth:`Region.pinned`).
        Cached under the clean calibration (the sets do not move)."""
        limits, frozen = self.constraints, self.frozen
        if frozen is None or not frozen.size or not isinstance(box, EvadingBox):
            return limits
        if self.calibration == "clean" and "limits" in self.cache:
            return self.cache["limits"]
        rows = np.arange(self.X.shape[0]) if limits.eligible is None else limits.eligible
        t = self.t
        shared = np.unique(t) if self.victim.classes is not None else [t.min(), t.max()]
        regions = {float(v): box.target(float(v))[0] for v in shared}

        def reachable(row: int) -> bool:
            own = [] if self.victim.classes is not None else [box.target(float(t[row]))[0]]
            values = self.X[row, frozen]
            return all(
                isinstance(r.pinned(frozen, values), Region) for r in [*regions.values(), *own]
            )

        kept = np.array([row for row in rows if reachable(int(row))], dtype=int)
        if not kept.size:
            raise InvalidInputError(
                "evade: with frozen_features, no clean row's frozen values leave a point "
                "of the sanitizers' sets for every label; freeze fewer features or lower "
                "evade_margin"
            )
        narrowed = dataclasses.replace(limits, eligible=kept)
        self.cache["limits"] = narrowed
        return narrowed

    def loss_threshold(self, Theta: np.ndarray, chosen) -> float | None:
        """τ of the loss filter, shrunk by the margin (None: the loss is not evaded).
        Clean calibration: the sanitizer's own on the clean rows; poisoned: the
        raised-share quantile of the current model's losses on the rows so far."""
        sanitizer = self.loss
        if sanitizer is None:
            return None
        shrink = 1.0 - self.margin
        if self.calibration == "clean":
            if "tau" not in self.cache:
                data = _inputs(self.X, self.y, self.task)
                tau = sanitizer.calibrate(data, self._estimator(sanitizer))
                self.cache["tau"] = shrink * tau
            return self.cache["tau"]
        X, y = self.rows(chosen)
        losses = self.losses(Theta, X, self.victim.encode(y))
        return shrink * float(np.quantile(losses, 1.0 - self.share(sanitizer)))

    def _estimator(self, sanitizer: LossFilter):
        return self.estimator if sanitizer.estimator is None else sanitizer.estimator

    def losses(self, Theta: np.ndarray, X: np.ndarray, t: np.ndarray) -> np.ndarray:
        """ℓ of rows (X, encoded t) under the internal model Θ: the loss filter's
        (y − ŷ)² for regression, the victim's own per-row loss for a classifier
        (the log-loss for a logistic one, −log p(y | x))."""
        Z = self.victim.learner.features(X, self.shift) @ Theta.T
        return filter_losses(self.victim, Z, t)[0]


__all__ = [
    "CALIBRATIONS",
    "resolve",
    "check",
    "poisoned_share",
    "Calibrated",
    "EvadingBox",
    "Evasion",
]
