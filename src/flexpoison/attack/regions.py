"""Convex feasible sets of a poison row: the box ∩ balls ∩ bands, and the projection on them.

A sanitizer that thresholds a distance (:mod:`flexpoison.defences`) keeps the rows of
a convex set of its view z = (x − μ)/s (per feature): the sphere keeps a ball, the
slab a band, the 3σ filter a box. An attack that evades them searches in the
intersection of those sets with its own box, in the same coordinates z:

* ball B(c, r) = {z : ‖z − c‖ ≤ r}, projection Π(z) = c + (z − c)·min(1, r / ‖z − c‖);
* band S(c, u, h) = {z : |⟨z − c, u⟩| ≤ h} (‖u‖ = 1), projection
  Π(z) = z − (⟨z − c, u⟩ − clip(⟨z − c, u⟩, −h, h))·u;
* box [a, b]: Π(z) = clip(z, a, b).

The projection onto the intersection is Dykstra's alternating projections (each set's
correction carried from one sweep to the next, so that the iterates converge to the
Euclidean projection in z, not merely to some point of the intersection). Dykstra
converges only in the limit: the point it ends at is then made *exactly* feasible
(every set's test holds in floating point, after rounding to the data's dtype) by a
bisection on the segment from a strictly interior point z₀ to it — a convex set
holds the whole segment from an interior point to any of its points, so the
bisection keeps the feasible end and moves the point by at most Dykstra's residual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .box import Box

#: Dykstra sweeps at most, and its stopping tolerance on the change of z per sweep.
MAX_SWEEPS = 2000
SWEEP_TOL = 1e-10
#: Halvings of the final bisection toward the interior point.
BISECTIONS = 60


@dataclass(frozen=True)
class Ball:
    """B(c, r) = {z : ‖z − c‖ ≤ r} in the view."""

    centre: np.ndarray
    radius: float

    def excess(self, z: np.ndarray) -> float:
        """‖z − c‖ − r (≤ 0 inside)."""
        return float(np.linalg.norm(z - self.centre)) - self.radius

    def project(self, z: np.ndarray) -> np.ndarray:
        """c + (z − c)·min(1, r / ‖z − c‖)."""
        gap = z - self.centre
        norm = float(np.linalg.norm(gap))
        if norm <= self.radius:
            return z
        return self.centre + gap * (self.radius / norm)

    def shrunk(self, factor: float) -> Ball:
        return Ball(self.centre, self.radius * factor)


@dataclass(frozen=True)
class Band:
    """S(c, u, h) = {z : |⟨z − c, u⟩| ≤ h} in the view, ‖u‖ = 1."""

    centre: np.ndarray
    direction: np.ndarray
    half_width: float

    def excess(self, z: np.ndarray) -> float:
        """|⟨z − c, u⟩| − h (≤ 0 inside)."""
        return abs(float((z - self.centre) @ self.direction)) - self.half_width

    def project(self, z: np.ndarray) -> np.ndarray:
        """z − (⟨z − c, u⟩ − clip(⟨z − c, u⟩, −h, h))·u."""
        along = float((z - self.centre) @ self.direction)
        kept = min(max(along, -self.half_width), self.half_width)
        if along == kept:
            return z
        return z - (along - kept) * self.direction

    def shrunk(self, factor: float) -> Band:
        return Band(self.centre, self.direction, self.half_width * factor)


Set = Ball | Band


def dykstra(
    z: np.ndarray, sets: tuple[Set, ...], lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Dykstra's projection of z onto [lower, upper] ∩ every set (module docstring):
    sweeps of the box's and each set's projection of the point plus that projection's
    correction from the sweep before, until a sweep changes the corrections by less
    than :data:`SWEEP_TOL`·(1 + ‖z‖) together (z alone can stall while the corrections
    still move it toward the projection) or :data:`MAX_SWEEPS`."""
    steps = [lambda v: np.clip(v, lower, upper), *(s.project for s in sets)]
    corrections = [np.zeros_like(z) for _ in steps]
    z = np.array(z, dtype=float)
    for _ in range(MAX_SWEEPS):
        change = 0.0
        for k, step in enumerate(steps):
            v = z + corrections[k]
            z = step(v)
            change += float(np.linalg.norm(v - z - corrections[k]))
            corrections[k] = v - z
        if change <= SWEEP_TOL * (1.0 + float(np.linalg.norm(z))):
            break
    return z


@dataclass(frozen=True)
class Region(Box):
    """The box ∩ the sets (balls and bands of the view z = (x − mean)/scale): a
    :class:`~flexpoison.attack.box.Box` whose :meth:`project` lands in the
    intersection, exactly (module docstring). ``interior`` is a point of x strictly
    inside every set and in the box (:func:`region`). ``frozen``: feature indices a
    point keeps (frozen features): :meth:`project` then projects onto the slice of the
    region where they hold the point's own values (:meth:`pinned`)."""

    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    sets: tuple[Set, ...] = ()
    interior: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frozen: np.ndarray | None = None
    slices: dict = field(default_factory=dict, compare=False, repr=False)

    def view(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale

    def feasible(self, x: np.ndarray) -> bool:
        """Whether x lies in the box and in every set (exact floating-point tests)."""
        if np.any(x < self.lower) or np.any(x > self.upper):
            return False
        z = self.view(x)
        return all(s.excess(z) <= 0.0 for s in self.sets)

    def project(self, x: np.ndarray) -> np.ndarray:
        """The point of the intersection nearest x in the view (Dykstra), made exactly
        feasible by bisection toward ``interior``, in the box's dtype (with ``frozen``:
        of the slice where x's frozen features keep their values)."""
        if self.frozen is not None and self.frozen.size:
            return self.pinned(self.frozen, x[self.frozen]).project(x)
        clipped = Box.project(self, x)
        if self.feasible(clipped):
            return clipped
        z = dykstra(self.view(x), self.sets, self.view(self.lower), self.view(self.upper))
        near = Box.project(self, self.mean + self.scale * z)
        if self.feasible(near):
            return near
        return self.toward_interior(near)

    def toward_interior(self, x: np.ndarray) -> np.ndarray:
        """The feasible point of the segment from ``interior`` to x nearest x: the
        first of 1 − 10⁻¹², 1 − 10⁻⁹, 1 − 10⁻⁶ of the way that is feasible (Dykstra's
        point misses by rounding), else by bisection (``interior`` itself when none
        other is found)."""
        for eps in (1e-12, 1e-9, 1e-6):
            trial = Box.project(self, self.interior + (1.0 - eps) * (x - self.interior))
            if self.feasible(trial):
                return trial
        inside, outside, best = 0.0, 1.0, self.interior
        for _ in range(BISECTIONS):
            mid = 0.5 * (inside + outside)
            trial = Box.project(self, self.interior + mid * (x - self.interior))
            if self.feasible(trial):
                inside, best = mid, trial
            else:
                outside = mid
        return best

    def pinned(self, indices: np.ndarray, values: np.ndarray) -> Box:
        """The slice of the region where the features ``indices`` hold ``values`` (a
        point's frozen features): the box pinned there (:meth:`Box.pinned`) ∩ the same
        sets, a :class:`Region` of its own (its interior point found anew). When the
        slice holds no point strictly inside the sets (the frozen values put them out of
        reach), the pinned box alone: the point is crafted in it and then held by the
        evading attack's checks (:mod:`flexpoison.attack.evasion_check`), as a rounded
        point is — not by construction. Cached per slice."""
        key = (np.asarray(indices).tobytes(), np.asarray(values, dtype=float).tobytes())
        if key not in self.slices:
            box = Box.pinned(self, indices, values)
            found = region(box, self.mean, self.scale, self.sets, hint=self.interior)
            self.slices[key] = box if found is None else found
        return self.slices[key]


def misses(s: Set, lower: np.ndarray, upper: np.ndarray) -> bool:
    """Whether the set holds no point strictly inside it within the box [lower, upper]
    of the view: for a ball, min over the box of ‖z − c‖ = ‖clip(c) − c‖ ≥ r; for a band,
    the range of ⟨z − c, u⟩ over the box, [Σ min(u_j a_j, u_j b_j), Σ max(…)] with
    a = lower − c, b = upper − c, misses (−h, h). A necessary condition of an empty
    intersection, checked before Dykstra's search (which would run to MAX_SWEEPS)."""
    if isinstance(s, Ball):
        return bool(np.linalg.norm(np.clip(s.centre, lower, upper) - s.centre) >= s.radius)
    ends = np.stack([s.direction * (lower - s.centre), s.direction * (upper - s.centre)])
    ends = np.nan_to_num(ends, nan=0.0)  # 0·∞ on an unbounded side a zero u_j ignores
    low, high = float(ends.min(axis=0).sum()), float(ends.max(axis=0).sum())
    return not (low < s.half_width and high > -s.half_width)


def region(
    box: Box,
    mean: np.ndarray,
    scale: np.ndarray,
    sets: tuple[Set, ...],
    frozen: np.ndarray | None = None,
    hint: np.ndarray | None = None,
) -> Region | None:
    """``box`` ∩ ``sets`` as a :class:`Region`, with a strictly interior point: Dykstra's
    projection of the first set's centre onto the box ∩ the sets shrunk to half their
    size; None when that point is not strictly inside (the intersection is empty or
    too thin to hold one). ``frozen``: the region's frozen features
    (:attr:`Region.frozen`). ``hint``: a point of x tried first, moved into the box (a
    slice's: the whole region's interior point); used as the interior point when it is
    strictly inside every set, without Dykstra's search."""
    lower, upper = (box.lower - mean) / scale, (box.upper - mean) / scale
    if any(misses(s, lower, upper) for s in sets):
        return None
    if hint is not None:
        x0 = Box.project(box, hint)
        if all(s.excess((x0 - mean) / scale) < 0.0 for s in sets):
            return Region(box.lower, box.upper, box.dtype, mean, scale, sets, x0, frozen)
    start = sets[0].centre if sets else 0.5 * (lower + upper)
    half = tuple(s.shrunk(0.5) for s in sets)
    z0 = dykstra(np.clip(start, lower, upper), half, lower, upper)
    x0 = Box.project(box, mean + scale * z0)
    z0 = (x0 - mean) / scale
    if np.any(x0 < box.lower) or np.any(x0 > box.upper):
        return None
    if any(not s.excess(z0) < 0.0 for s in sets):
        return None
    return Region(box.lower, box.upper, box.dtype, mean, scale, sets, x0, frozen)


__all__ = [
    "Ball",
    "Band",
    "Set",
    "dykstra",
    "misses",
    "Region",
    "region",
    "MAX_SWEEPS",
    "BISECTIONS",
]
