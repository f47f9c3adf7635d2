"""One descent of W inside the box: a driver, its step rules and its stop test.

A descent minimises W(x) (and W(x, y) when responses are optimised) over the box from
one start. One loop (:class:`Descender`) runs every rule: each iteration the rule
proposes an accepted point, or none (no feasible step lowers W). The loop records W and
stops (:data:`Stop`) at ``"tolerance"`` — |ΔW| < tol·max(scale, |W|) for the paper's W;
for the effect search (W = sign·(E − E_before), ``scale=None``) |ΔW| < tol·max(|W − W₀|,
|W|), below tol times what the descent or the point has gained (times the objective's
``stop_scale``: 1, a linear-kernel classifier's larger); a step a rule calls
*inconclusive* (a quasi-Newton step its line search cut short) does not stop it, the
next step is a projected-gradient one — ``"stationary"`` (the projected gradient
vanishes or no trial lowers W), ``"zero gradient"`` (E's exact gradient is zero: the
point does not move θ locally), ``"max_iter"``, ``"screened"`` (dropped by
:func:`flexpoison.attack.search.screen`) or ``"reached"`` (its start already gains
what the point keeps). A descent can be paused and resumed (:meth:`advance`).

Rules (``step=``). All but ``"paper"`` run where the box is the unit cube,
z = (x − lower)/w (the response scaled by its range; a pinned feature stays), with
Armijo's test W(z(a)) ≤ W(z) + 10⁻⁴·∇W·(z(a) − z) and W(z(a)) < W(z) on value-only
trials (only the accepted point is differentiated): the first of a, a/2, … that
passes, a gradient step skipping the halvings the ray's quadratic model says fail and
trying them back up from the one that passes (:func:`_backtrack`).

* ``"lbfgs"`` (default): 5 projected-gradient steps (they follow the gradient's path
  from the start, which decides the local minimum, and give the first curvature
  pairs), then projected L-BFGS: coordinates at (or within ε of) a bound whose gradient
  points out take a gradient step stopped at the bound (Bertsekas' two-metric
  projection), the others d = −H·g from the last 10 pairs (Δz, Δ∇W) with positive
  curvature (s·y > 10⁻¹⁰‖s‖‖y‖; an L1 or hinge kink gives none). The step moves at
  most a radius (a tenth of the cube's diagonal, doubled after a full step, halved
  after a cut one); trials z(a) = Π(z + a·d), a = 1, ½, …. Where d does not descend or
  30 halvings fail, the memory is cleared and the step is a projected-gradient one, so
  it never does worse than ``"backtracking"`` at a kink.
* ``"backtracking"``: projected gradient, Δz = −a·∇_z W; the first trial moves a tenth
  of the cube's diagonal, a step doubles after it is accepted and halves after not.
* ``"paper"``: the paper's x ← Π(x − ∇W / i) at iteration i, in the data's units,
  every step accepted.

The documentation's maths page ("The search") states the same in its notation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .. import engine
from .box import Box
from .objective import Evaluation, Objective

Stop = Literal["tolerance", "stationary", "zero gradient", "max_iter", "screened", "reached"]

# Trial steps of one projected-gradient line search at most: halving the cube's
# diagonal down to the floor (1e-12) takes fewer than 60; the bound keeps the loop
# finite whatever W does (NaN included).
_MAX_TRIALS = 100
# Halvings of one quasi-Newton line search before it falls back to a gradient step.
_QN_TRIALS = 30
# The first trial step of a descent moves this share of the cube's diagonal.
_FIRST_STEP = 0.1
# Armijo's sufficient-decrease constant.
_ARMIJO = 1e-4
# L-BFGS memory (pairs kept) and the curvature a pair must show to be kept.
_MEMORY = 10
_CURVATURE = 1e-10
# Coordinates this close to a bound (in the cube), with the gradient pointing out, are
# held there (Bertsekas' ε-active set, ε also at most the projected gradient's norm).
_NEAR = 1e-2
# The first iterations are projected-gradient steps: they follow the gradient's path
# from the start, as "backtracking" does (which basin of W a descent ends in depends
# on it), and give L-BFGS its first curvature pairs.
_WARMUP = 5
# A quasi-Newton step moves at most a radius in the cube that starts at a tenth of its
# diagonal and grows this much after a full step (halves after a cut one): no jump
# across the box on a curvature estimate made far away.
_GROWTH = 2.0


@dataclass(frozen=True)
class Start:
    """An initial point: x (in the box), its encoded target t, and how it was made;
    ``row``, the clean row it takes its features from (its source row; None for the
    no-op row without frozen features), and ``fixed``, the frozen features, whose
    values in x are that row's and which a descent from it does not move (None: no
    frozen features)."""

    x: np.ndarray
    t: float
    kind: str
    row: int | None = None
    fixed: np.ndarray | None = None


@dataclass(frozen=True)
class Descent:
    """Where a descent from one start ended: the point, its evaluation, W at every
    iteration (entry 0: the start) and why it stopped."""

    start: Start
    x: np.ndarray
    t: float
    ev: Evaluation
    history: list[float]
    stop: Stop

    @property
    def n_iter(self) -> int:
        return len(self.history) - 1


class _Space:
    """The search space in unit-cube coordinates: z = (v − lower)/w, v = (x, t)."""

    def __init__(self, box: Box, y_range: tuple[float, float] | None, t: float):
        self.box = box
        self.with_y = y_range is not None
        self.y_range = y_range
        lower, width = box.lower, box.upper - box.lower
        if y_range is not None:
            lower = np.append(lower, y_range[0])
            width = np.append(width, y_range[1] - y_range[0])
        self.lower = lower
        self.width = width
        self.scale = np.where(width > 0, width, 1.0)  # a pinned coordinate keeps z = 0
        self.t = t  # the response, when it is not optimised
        self.d = box.lower.size
        self.diagonal = math.sqrt(float(np.count_nonzero(width > 0)))
        self._last: tuple[Evaluation, np.ndarray, np.ndarray] | None = None

    def cube(self, ev: Evaluation) -> tuple[np.ndarray, np.ndarray]:
        """(z, ∇_z W) at the differentiated evaluation ``ev`` (zero on pinned
        coordinates), kept for the last one asked: an accepted point is read again by
        the next step."""
        if self._last is not None and self._last[0] is ev:
            return self._last[1], self._last[2]
        assert ev.grad_x is not None
        v, g = ev.x, ev.grad_x
        if self.with_y:
            v, g = np.append(v, ev.t), np.append(g, ev.grad_y or 0.0)
        moving = self.width > 0
        z = np.where(moving, (v - self.lower) / self.scale, 0.0)
        g = np.where(moving, g * self.width, 0.0)
        self._last = (ev, z, g)
        return z, g

    def point(self, z: np.ndarray) -> tuple[np.ndarray, float]:
        """(x, t) at z ∈ [0, 1]ⁿ, projected on the box in its dtype."""
        v = self.lower + np.clip(z, 0.0, 1.0) * self.width
        x = self.box.project(v[: self.d])
        if self.y_range is None:
            return x, self.t
        return x, min(max(float(v[self.d]), self.y_range[0]), self.y_range[1])


class _Rule(Protocol):
    def step(self, ev: Evaluation, i: int) -> tuple[Evaluation | None, bool]:
        """The next accepted point from ``ev`` at iteration i (None: no feasible step
        lowers W) and whether a small change there means convergence."""
        ...

    def settle(self) -> None:
        """Make the next step one whose small change means convergence."""
        ...


class _Context:
    """What every rule needs: the objective, the space, and how to evaluate a point."""

    def __init__(self, objective: Objective, space: _Space):
        self.objective = objective
        self.space = space

    def trial(self, z: np.ndarray, ev: Evaluation) -> Evaluation:
        x, t = self.space.point(z)
        return self.objective.evaluate(x, t, Theta_init=ev.fit.Theta, with_gradient=False)

    def accept(self, trial: Evaluation) -> Evaluation:
        return self.objective.differentiate(trial, with_y=self.space.with_y)


class _Paper:
    """x ← Π(x − ∇W / i), in the data's units (the paper's rule)."""

    def __init__(self, context: _Context, y_range: tuple[float, float] | None):
        self.context, self.y_range = context, y_range

    def settle(self) -> None:
        pass

    def step(self, ev: Evaluation, i: int) -> tuple[Evaluation | None, bool]:
        assert ev.grad_x is not None
        space = self.context.space
        x = space.box.project(ev.x - ev.grad_x / i)
        t = ev.t
        if self.y_range is not None and ev.grad_y:
            t = min(max(t - ev.grad_y / i, self.y_range[0]), self.y_range[1])
        new = self.context.objective.evaluate(x, t, Theta_init=ev.fit.Theta, with_y=space.with_y)
        return new, True


class _Gradient:
    """Projected gradient with Armijo backtracking in the cube (module docstring)."""

    def __init__(self, context: _Context):
        self.context = context
        self.step_size: float | None = None

    def settle(self) -> None:
        pass

    def step(self, ev: Evaluation, i: int) -> tuple[Evaluation | None, bool]:
        space = self.context.space
        z, g = space.cube(ev)
        g_norm = math.sqrt(float(g.dot(g)))
        if not g_norm > 0.0:
            return None, True
        if self.step_size is None:  # the first trial moves a share of the diagonal
            self.step_size = _FIRST_STEP * space.diagonal / g_norm
        passed, a = _backtrack(self.context, ev, z, g, -g, self.step_size, 1e-12 / g_norm)
        if passed is None:
            return None, True
        self.step_size = 2.0 * a
        return self.context.accept(passed), True


class _LBFGS:
    """Projected L-BFGS with a projected-gradient fallback (module docstring)."""

    def __init__(self, context: _Context):
        self.context = context
        self.gradient = _Gradient(context)
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self.check = False  # the next step is a gradient one (after a cut step)
        self.radius = _FIRST_STEP * context.space.diagonal  # a quasi-Newton step's reach

    def step(self, ev: Evaluation, i: int) -> tuple[Evaluation | None, bool]:
        space = self.context.space
        z, g = space.cube(ev)
        new: Evaluation | None = None
        conclusive = True
        if self.pairs and not self.check and i > _WARMUP:
            d = self._direction(z, g)
            norm = math.sqrt(float(d.dot(d)))
            if norm > self.radius:
                d = d * (self.radius / norm)
            slope = float(g.dot(d))
            if slope < 0.0:
                # plain halving: a quasi-Newton step that fails mostly fails at the
                # box's faces, where the ray's model misleads (the skip cost trials)
                trial, a = _backtrack(self.context, ev, z, g, d, 1.0, 0.5**_QN_TRIALS, False)
                if trial is not None:
                    self.radius *= _GROWTH if a == 1.0 else 0.5
                    new = self.context.accept(trial)
                    conclusive = a == 1.0  # a cut step may be a kink's, not the end
            if new is None:  # no descent direction or a failed line search
                self.pairs.clear()
        if new is None:  # a projected-gradient step
            new, _ = self.gradient.step(ev, i)
            if new is None:
                return None, True
        self.check = False
        z_new, g_new = space.cube(new)
        s, y = z_new - z, g_new - g
        sy = float(s.dot(y))
        if sy > _CURVATURE * math.sqrt(float(s.dot(s)) * float(y.dot(y))):
            self.pairs.append((s, y))
            del self.pairs[:-_MEMORY]
        return new, conclusive

    def settle(self) -> None:
        """Make the next step a projected-gradient one (after a small cut step)."""
        self.check = True

    def _direction(self, z: np.ndarray, g: np.ndarray) -> np.ndarray:
        """−H·g on the coordinates not held at a bound (two-loop recursion), 0 on those
        held: at a bound with the gradient pointing out of the box, or pinned."""
        eps = min(_NEAR, float(np.linalg.norm(z - np.clip(z - g, 0.0, 1.0))))
        held = ((z <= eps) & (g > 0.0)) | ((z >= 1.0 - eps) & (g < 0.0)) | (g == 0.0)
        free = ~held
        pairs = [(s * free, y * free) for s, y in self.pairs]  # on the free coordinates
        rhos = [1.0 / sy if (sy := float(s.dot(y))) > 0.0 else 0.0 for s, y in pairs]
        q = np.where(free, g, 0.0)
        alphas = []
        for (s, y), rho in zip(reversed(pairs), reversed(rhos), strict=True):
            a = rho * float(s.dot(q))
            q = q - a * y
            alphas.append(a)
        s, y = pairs[-1]
        sy, yy = float(s.dot(y)), float(y.dot(y))
        gamma = sy / yy if sy > 0.0 and yy > 0.0 else 1.0
        q = q * gamma
        for (s, y), a, rho in zip(pairs, reversed(alphas), rhos, strict=True):
            b = rho * float(y.dot(q))
            q = q + (a - b) * s
        # held coordinates take a scaled gradient step, which the projection stops at
        # their bound (Bertsekas' two-metric projection)
        return -np.where(held & (z > 0.0) & (z < 1.0), gamma * g, q)


def _try(
    context: _Context, ev: Evaluation, z: np.ndarray, g: np.ndarray, target: np.ndarray
) -> tuple[Evaluation | None, float | None, float]:
    """W at the projection of ``target``: the trial if it passes Armijo's test (else
    None), the first-order decrease m it promised (None if it promised none: the
    projected step does not descend), and the ratio ρ = (W(z) − W(z_new))/m of the
    decrease to the promise (NaN when there is no trial or W is not finite)."""
    z_new = np.clip(target, 0.0, 1.0)
    moved = float(g.dot(z - z_new))
    if not moved > 0.0:
        return None, None, math.nan
    trial = context.trial(z_new, ev)
    ratio = (ev.W - trial.W) / moved
    if trial.W < ev.W and trial.W <= ev.W - _ARMIJO * moved:  # a decrease, not rounding
        return trial, moved, ratio
    return None, moved, ratio


def _backtrack(
    context: _Context,
    ev: Evaluation,
    z: np.ndarray,
    g: np.ndarray,
    d: np.ndarray,
    a: float,
    floor: float,
    skip: bool = True,
) -> tuple[Evaluation | None, float]:
    """The first step of a, a/2, a/4, … above ``floor`` whose trial Π(z + step·d)
    passes Armijo's test, and that step (None if none does, or the projected step
    stops descending). With ``skip``, a failed trial's ratio skips the halvings the
    ray's model says fail too (:func:`_halvings`); from the step reached, if it passes,
    the skipped steps are tried back up until one fails, so the step taken is plain
    halving's wherever the steps that pass are all those below some size (the model
    need not be right: a kink or W's rounding floor only costs trials)."""
    skipped = 0  # halvings skipped since the last failed trial
    passed: tuple[Evaluation, float] | None = None
    for _ in range(_MAX_TRIALS):
        if not a > floor:
            break
        trial, moved, ratio = _try(context, ev, z, g, z + a * d)
        if moved is None:  # the projected step does not descend
            break
        if trial is not None:
            passed = (trial, a)
            if skipped:  # a skipped step above may pass too (a kink, a rounding floor)
                skipped -= 1
                a *= 2.0
                continue
            break
        if passed is not None:  # the step above failed: the one below it stands
            break
        k = _halvings(ratio) if skip else 1
        while k > 1 and not a * 0.5**k > floor:  # the last step above the floor
            k -= 1
        skipped = k - 1
        a *= 0.5**k
    return (None, a) if passed is None else passed


def _halvings(ratio: float) -> int:
    """How many times to halve a gradient step whose trial failed Armijo's test with
    decrease ratio ρ: on the ray's quadratic model W(a) = W − m·a + ½·c·a²,
    ρ(a) = 1 − c·a/(2m), so ρ(a/2ᵏ) = 1 − (1 − ρ)/2ᵏ, and the first step of the
    halving sequence that passes (ρ ≥ 10⁻⁴) is k = ⌈log₂((1 − ρ)/(1 − 10⁻⁴))⌉: the
    halvings the model says fail are skipped (the same step when W is quadratic on
    the ray). At least 1; 1 when ρ is not finite."""
    if not math.isfinite(ratio):
        return 1
    return max(1, math.ceil(math.log2((1.0 - ratio) / (1.0 - _ARMIJO))))


class Descender:
    """A descent of W from one start that can be paused and resumed (module docstring).

    ``scale``: the stop test's floor, |ΔW| < tol·max(scale, |W|); None: the effect
    search's test, |ΔW| < tol·max(|W − W₀|, |W|)."""

    def __init__(
        self,
        objective: Objective,
        start: Start,
        Theta: np.ndarray,
        box: Box,
        y_range: tuple[float, float] | None,
        *,
        step_rule: str,
        tol: float,
        scale: float | None = 1.0,
    ):
        given = box
        box, t = box.target(start.t)  # an evading attack's sets depend on the target
        if box is not given or t != start.t:
            start = Start(box.project(start.x), t, start.kind, start.row, start.fixed)
        self.objective, self.start = objective, start
        if scale is None:  # the effect search's relative test: a victim may loosen it
            tol *= objective.stop_scale
        self.tol, self.scale = tol, scale
        if start.fixed is not None and start.fixed.size:  # frozen features: pinned
            box = box.pinned(start.fixed, start.x[start.fixed])
        context = _Context(objective, _Space(box, y_range, start.t))
        self.rule: _Rule = (
            _Paper(context, y_range)
            if step_rule == "paper"
            else _Gradient(context)
            if step_rule == "backtracking"
            else _LBFGS(context)
        )
        with_y = y_range is not None
        self.ev = objective.evaluate(start.x, start.t, Theta_init=Theta, with_y=with_y)
        self.history = [self.ev.W]
        self.stop: Stop | None = None
        if _flat(objective, self.ev) and not objective.alpha:  # nothing can move it
            self.stop = "zero gradient"

    @property
    def n_iter(self) -> int:
        return len(self.history) - 1

    def advance(self, until: int) -> None:
        """Iterate until the descent stops or has made ``until`` iterations."""
        while self.stop is None and self.n_iter < until:
            new, conclusive = self.rule.step(self.ev, self.n_iter + 1)
            if new is None:
                self.stop = "zero gradient" if _flat(self.objective, self.ev) else "stationary"
                break
            change = abs(new.W - self.ev.W)
            self.ev = new
            self.history.append(new.W)
            if change < self._threshold():
                if conclusive:
                    self.stop = "tolerance"
                else:  # a cut quasi-Newton step: a gradient step settles it
                    self.rule.settle()

    def _threshold(self) -> float:
        history = self.history
        if self.scale is None:  # W = sign·(E − E_before): |W| is the point's gain
            return self.tol * max(abs(history[-1] - history[0]), abs(history[-1]))
        return self.tol * max(self.scale, abs(history[-2]))

    def result(self, max_iter: int) -> Descent:
        """The descent as it stands: stopped, at ``max_iter``, or screened out."""
        stop: Stop = self.stop or ("max_iter" if self.n_iter >= max_iter else "screened")
        return Descent(self.start, self.ev.x, self.ev.t, self.ev, self.history, stop)


def _flat(objective: Objective, ev: Evaluation) -> bool:
    """Whether E's exact gradient at ``ev`` is zero: the point does not move θ
    locally — a support vector machine's θ pinned by the rows on its loss's kinks
    (:mod:`flexpoison.engine.kinks`), or a row where its loss is flat (beyond the
    margin, inside the ε-tube) — so that no descent of E can start from it."""
    assert ev.grad_x is not None
    concealment = (2.0 * objective.alpha) * (ev.x - objective.x_c)
    if np.any(ev.grad_x - concealment) or ev.grad_y or objective.victim.scaler is not None:
        return False
    inert = getattr(objective, "inert", None)  # a kernel victim's (attack.kernel)
    if inert is not None:
        return bool(inert(ev))
    return engine.inert(objective.victim.learner, ev.fit, ev.phi, ev.t)


__all__ = [
    "Stop",
    "Start",
    "Descent",
    "Descender",
]
