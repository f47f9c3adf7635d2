"""Algorithm 1 of the paper: craft m poison rows one at a time by projected gradient descent.

:class:`FlexiblePoisoning` reads the victim from the model registry
(:mod:`flexpoison.models`), builds the feasible box (:mod:`flexpoison.attack.box`),
the goal's effect (:mod:`flexpoison.attack.goals`) and the objective W
(:mod:`flexpoison.attack.objective`), then crafts each point from a random clean row —
labels flipped for classification, responses kept for regression — by projected
gradient descent on W; each finished point joins the training set before the next
one starts. The poisoning rate is m / n, n the clean training rows.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .. import engine, models
from .._validation import (
    MAX_RATE,
    check_count,
    check_features,
    check_fraction,
    check_positive,
    check_rate,
    check_targets,
)
from ..errors import InvalidInputError, SingularHessianError, UnsupportedEstimatorError
from ..models import Victim
from .box import Box, feasible_box
from .effects import public_map
from .goals import GOALS, Goal, Integrity, ModelShape
from .objective import Objective

StepRule = Literal["backtracking", "paper"]

# Trial steps of one line search at most: halving the box diagonal (≤ 2e150) down to
# the floor (≥ 1e-12) takes fewer than 540; the bound makes the loop finite whatever W
# does (NaN included).
_MAX_TRIALS = 600


def why_singular(X: np.ndarray, fit_intercept: bool, feature_names: list[str] | None = None) -> str:
    """Why a learner's Hessian on the rows X is (numerically) singular, and the remedy:
    fewer rows than parameters, collinear features (the standardised design, with the
    intercept's column, is rank deficient: smallest singular value ≤ 1e-8 of the
    largest), or else features on scales that leave float64 without the precision to
    tell the directions apart."""
    n, d = X.shape
    p = d + fit_intercept
    if n < p:
        return (
            f"the training rows ({n}) are fewer than the model's parameters ({p}), so "
            "it is not unique; add rows or an L2 penalty"
        )
    mean, sigma = X.mean(axis=0), X.std(axis=0)
    Z = (X - mean) / np.where(sigma > 0, sigma, 1.0)
    if fit_intercept:
        Z = np.column_stack([Z, np.ones(n)])
    singular = np.linalg.svd(Z, compute_uv=False)
    if singular[-1] <= 1e-8 * singular[0]:
        return (
            "its features are collinear (a feature is a linear combination of others, "
            "e.g. a duplicated column), so the model is not unique; remove redundant "
            "features or add an L2 penalty"
        )

    def name(j: int) -> str:
        return repr(feature_names[j]) if feature_names else f"feature {j}"

    spread = (
        name(int(np.argmin(sigma))),
        float(sigma.min()),
        name(int(np.argmax(sigma))),
        float(sigma.max()),
    )
    return (
        "its features are not collinear but their scales leave float64 without "
        f"the precision to solve it (σ from {spread[1]:.3g} for {spread[0]} to "
        f"{spread[3]:.3g} for {spread[2]}, largest |mean| {np.max(np.abs(mean)):.3g}); "
        "standardise the features (--standardize on the command line, or a "
        "StandardScaler) and attack again"
    )


def _column_names(X) -> list[str] | None:
    """The column names of a table-like X (a pandas DataFrame's ``columns``), if any."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = [str(c) for c in columns]
    return names if len(names) == np.shape(X)[1] else None


@dataclass(frozen=True)
class AttackResult:
    """What :meth:`FlexiblePoisoning.generate` returns.

    Attributes
    ----------
    X_poison : ndarray of shape (m, d)
        The poison rows, in the units (and floating dtype) of the X passed in.
    y_poison : ndarray of shape (m,)
        Their responses or labels, in the user's values.
    theta_clean, theta_target, theta_poisoned : ndarray
        θ₀, θ_t (θ₀ again for an availability goal) and θ_p trained on clean + all
        poison rows, flat (w…, b) — per class row for the multinomial model.
    W_history : list of ndarray
        For each crafted point, W at every iteration (entry 0 = the initial point).
    effect_history : ndarray of shape (m,)
        E_I (or E_A) after each point joins the training set.
    theta_history : ndarray of shape (m, len(θ))
        θ_p after each point joins the training set (row q: clean + first q+1 points).
    effect_clean : float
        E before any poison (E_I(θ₀); 0 for E_A; the clean model's loss for E_L).
    concealment : ndarray of shape (m,)
        C = ‖x_p − x_c‖² of each point.
    n_iter : ndarray of shape (m,)
        Gradient iterations spent on each point.
    x_c : ndarray of shape (d,)
        Centre of the clean training features.
    lower, upper : ndarray of shape (d,)
        The feasible box.
    n_clean : int
        Rows in the clean training set (the poisoning rate is m / n_clean).
    goal : str
        ``"integrity"`` or ``"availability"``.
    settings : dict
        The attack's settings, for reports.
    """

    X_poison: np.ndarray
    y_poison: np.ndarray
    theta_clean: np.ndarray
    theta_target: np.ndarray
    theta_poisoned: np.ndarray
    W_history: list[np.ndarray]
    effect_history: np.ndarray
    theta_history: np.ndarray
    effect_clean: float
    concealment: np.ndarray
    n_iter: np.ndarray
    x_c: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_clean: int
    goal: str
    settings: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return self.X_poison.shape[0]

    @property
    def rates(self) -> np.ndarray:
        """Poisoning rate after each point: (q + 1) / n_clean."""
        return np.arange(1, self.n_points + 1) / self.n_clean


@dataclass(frozen=True)
class _Setup:
    X: np.ndarray
    victim: Victim
    box: Box
    objective: Objective
    theta_clean: np.ndarray
    t: np.ndarray  # encoded clean targets


@dataclass(frozen=True)
class FlexiblePoisoning:
    """Craft poison rows against a scikit-learn model (Algorithm 1).

    Parameters
    ----------
    estimator : unfitted scikit-learn estimator
        One of the victims of :data:`flexpoison.models.REGISTRY`; its hyper-parameters
        define the victim's training objective (settings that change it otherwise
        are refused by name).
    goal : Integrity, Availability or LossAvailability, default Integrity()
        What the attacker wants (see :mod:`flexpoison.attack.goals`).
    alpha : float in [0, 1], default 0.5
        Trade-off: α weighs concealment C, 1 − α the effect E.
    n_points : int, optional
        Number m of poison rows. Give exactly one of ``n_points`` and ``rate``.
    rate : float, optional
        Poisoning rate m / n (m = round(rate·n), at least 1).
    step : {"backtracking", "paper"}, default "backtracking"
        "paper": x ← Π(x − ∇W / i) at iteration i, as in the paper. "backtracking":
        projected gradient with an Armijo line search on W (the step doubles after an
        accepted move and halves on a rejected one), so W never increases.
    max_iter : int, default 100
        Gradient iterations per point at most.
    tol : float, default 1e-6
        Stop a point when |W⁽ⁱ⁺¹⁾ − W⁽ⁱ⁾| < tol · max(1, |W⁽ⁱ⁾|).
    optimize_y : bool, default False
        Regression only: also optimise y_p by gradient, within [min y, max y].
    n_sigma : float, default 3.0
        Half-width of the feasible box in standard deviations (the paper's 3σ).
    bounds : (lower, upper), optional
        Per-feature bounds (±inf allowed) intersected with the box.
    random_state : int or numpy Generator, optional
        Seeds the choice of initial rows (and flipped classes for K > 2).
    progress : bool or None, default False
        Show a progress bar over the crafted points (None: only on a terminal).
    """

    estimator: object
    goal: Goal = field(default_factory=Integrity)
    alpha: float = 0.5
    n_points: int | None = None
    rate: float | None = None
    step: StepRule = "backtracking"
    max_iter: int = 100
    tol: float = 1e-6
    optimize_y: bool = False
    n_sigma: float = 3.0
    bounds: tuple | None = None
    random_state: int | np.random.Generator | None = None
    progress: bool | None = False

    # ---------------------------------------------------------------- public API
    def objective(self, X, y, sample_weight=None) -> Objective:
        """W for one candidate point added to (X, y); x_c, θ₀ and θ_t from (X, y).

        The budget (``n_points``/``rate``) is not needed here and not checked."""
        return self._setup(X, y, sample_weight, need_budget=False).objective

    def generate(self, X, y, sample_weight=None) -> AttackResult:
        """Run Algorithm 1 on the clean training set (X, y); return the poison rows."""
        setup = self._setup(X, y, sample_weight)
        n, d = setup.X.shape
        m = self._n_points(n)
        rng = np.random.default_rng(self.random_state)
        victim, box = setup.victim, setup.box
        y_range = (float(setup.t.min()), float(setup.t.max()))
        objective = setup.objective
        points, targets, histories, effects, thetas, concealment, n_iter = (
            [],
            [],
            [],
            [],
            [],
            [],
            [],
        )
        Theta = objective.Theta_start
        theta_poisoned = setup.theta_clean

        from tqdm.auto import tqdm  # imported here: only the attack loop shows progress

        bar = tqdm(
            range(m),
            disable=None if self.progress is None else not self.progress,
            desc="poison points",
            unit="pt",
            leave=False,
        )
        for _ in bar:
            row = int(rng.integers(n))
            x0 = box.project(setup.X[row])
            t0 = setup.t[row] if victim.classes is None else victim.flipped(setup.t[row], rng)
            x, t, ev, history = self._descend(objective, x0, t0, Theta, box, y_range)
            objective = objective.with_point(x, t, ev.fit.Theta)
            Theta = ev.fit.Theta
            theta_poisoned = ev.theta
            points.append(x)
            targets.append(t)
            histories.append(np.asarray(history))
            effects.append(ev.E)
            thetas.append(ev.theta)
            concealment.append(ev.C)
            n_iter.append(len(history) - 1)

        X_poison = np.asarray(points, dtype=float).reshape(m, d).astype(box.dtype)
        ref = setup.objective.theta_reference
        e0, _ = setup.objective.effect(setup.objective.Theta_start, setup.theta_clean)
        return AttackResult(
            X_poison=X_poison,
            y_poison=victim.decode(np.asarray(targets)),
            theta_clean=setup.theta_clean,
            theta_target=ref,
            theta_poisoned=theta_poisoned,
            W_history=histories,
            effect_history=np.asarray(effects),
            theta_history=np.asarray(thetas).reshape(m, -1),
            effect_clean=e0,
            concealment=np.asarray(concealment),
            n_iter=np.asarray(n_iter, dtype=int),
            x_c=setup.objective.x_c,
            lower=box.lower,
            upper=box.upper,
            n_clean=n,
            goal=self.goal.kind,
            settings=self.settings(),
        )

    def settings(self) -> dict:
        """The attack's settings as plain JSON-able values."""
        return {
            "estimator": repr(self.estimator),
            "goal": self.goal.describe(),
            "alpha": self.alpha,
            "n_points": self.n_points,
            "rate": self.rate,
            "step": self.step,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "optimize_y": self.optimize_y,
            "n_sigma": self.n_sigma,
            "bounds": None
            if self.bounds is None  # JSON has no ±inf: unbounded is null
            else [
                [float(v) if np.isfinite(v) else None for v in np.asarray(b, dtype=float)]
                for b in self.bounds
            ],
            "random_state": int(self.random_state)
            if isinstance(self.random_state, numbers.Integral)
            else None,
        }

    # ----------------------------------------------------------------- internals
    def _check_params(self, need_budget: bool = True) -> None:
        check_fraction(self.alpha, "alpha")
        rs = self.random_state
        if not (
            rs is None
            or isinstance(rs, np.random.Generator)
            or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and rs >= 0)
        ):
            raise InvalidInputError(
                f"random_state: expected None, an integer ≥ 0 or a numpy Generator, got {rs!r}"
            )
        if not isinstance(self.goal, tuple(GOALS.values())):
            raise InvalidInputError(
                f"goal: expected Integrity(...), Availability() or "
                f"LossAvailability(...), got {self.goal!r}"
            )
        if need_budget and (self.n_points is None) == (self.rate is None):
            raise InvalidInputError("give exactly one of n_points and rate")
        if self.n_points is not None:
            check_count(self.n_points, "n_points")
        if self.rate is not None:
            check_rate(self.rate, "rate")
        if self.step not in ("backtracking", "paper"):
            raise InvalidInputError(f"step: expected 'backtracking' or 'paper', got {self.step!r}")
        check_count(self.max_iter, "max_iter")
        check_positive(self.tol, "tol")
        check_positive(self.n_sigma, "n_sigma")

    def _n_points(self, n: int) -> int:
        if self.n_points is not None:
            if self.n_points > MAX_RATE * n:
                raise InvalidInputError(
                    f"n_points: {self.n_points} poison rows for {n} clean rows is a rate of "
                    f"{self.n_points / n:.3g}; flexpoison adds at most one poison row per "
                    "clean row"
                )
            return int(self.n_points)
        assert self.rate is not None  # _check_params: exactly one of the two, checked
        m = round(self.rate * n)
        if m < 1:
            raise InvalidInputError(
                f"rate: {self.rate} of {n} rows rounds to 0 poison "
                "points; use a larger rate or n_points"
            )
        return m

    def _setup(self, X, y, sample_weight, need_budget: bool = True) -> _Setup:
        self._check_params(need_budget)
        if sample_weight is not None:
            raise UnsupportedEstimatorError(
                "sample_weight is not supported: the victim is trained with unit weights"
            )
        spec = models.spec_for(self.estimator)
        names = _column_names(X)
        X = check_features(X, "X", min_rows=2)
        n, d = X.shape
        y_arr = check_targets(np.asarray(y), n, spec.task)
        victim = models.victim(self.estimator, y_arr)
        if self.optimize_y and victim.classes is not None:
            raise InvalidInputError(
                "optimize_y: only regression responses can be "
                "optimised; class labels are flipped instead"
            )
        Xf = X.astype(float)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        box = feasible_box(Xf, self.n_sigma, self.bounds, names, dtype)
        learner = victim.learner
        x_c = Xf.mean(axis=0)
        shift = x_c if learner.fit_intercept else np.zeros(d)
        t = victim.encode(y_arr)
        Phi = learner.features(Xf, shift)
        data: engine.RowData | engine.GramData = (
            engine.GramData.from_rows(Phi, t)
            if learner.loss.curvature is not None
            else engine.RowData(Phi, t)
        )
        K, p = learner.n_outputs, Phi.shape[1]
        try:
            fit0 = engine.fit(learner, data, np.zeros((K, p)))
        except SingularHessianError as exc:
            raise SingularHessianError(
                f"{learner.name}: the training objective's Hessian is singular: "
                f"{why_singular(Xf, learner.fit_intercept, names)}"
            ) from exc
        T = public_map(p, shift, learner.fit_intercept)
        theta_clean = (fit0.Theta @ T).ravel()
        if not np.all(np.isfinite(theta_clean)):
            raise InvalidInputError(
                f"X: the clean model is not finite in float64 ({learner.name}); "
                f"{why_singular(Xf, learner.fit_intercept, names)}"
            )
        shape = ModelShape(
            d,
            K,
            learner.fit_intercept,
            spec.task,
            None if victim.classes is None else tuple(victim.classes),
            spec.target_preset(K),
        )
        reference = self.goal.reference(theta_clean, shape)
        effect = self.goal.effect(victim, Xf, y_arr, shift, reference)
        objective = Objective(
            victim=victim,
            data=data,
            shift=shift,
            x_c=x_c,
            theta_reference=reference,
            goal=self.goal,
            alpha=float(self.alpha),
            Theta_start=fit0.Theta,
            effect=effect,
        )
        return _Setup(X, victim, box, objective, theta_clean, t)

    def _descend(
        self,
        objective: Objective,
        x: np.ndarray,
        t: float,
        Theta: np.ndarray,
        box: Box,
        y_range: tuple[float, float],
    ):
        """Projected gradient descent on W for one point; returns x, t, final eval, W's.

        Trial points of the line search are evaluated without their gradient: only an
        accepted point is differentiated."""
        with_y = self.optimize_y
        ev = objective.evaluate(x, t, Theta_init=Theta, with_y=with_y)
        history = [ev.W]
        step = None
        paper = self.step == "paper"
        for i in range(1, self.max_iter + 1):
            assert ev.grad_x is not None and (ev.grad_y is not None or not with_y)
            g_x, g_t = ev.grad_x, (ev.grad_y if ev.grad_y is not None else 0.0)
            if paper:
                x_new, t_new = self._move(x, t, g_x, g_t, 1.0 / i, box, y_range)
                new = objective.evaluate(x_new, t_new, Theta_init=ev.fit.Theta, with_y=with_y)
            else:
                g_norm = math.sqrt(float(g_x.dot(g_x)) + g_t * g_t)
                if step is None:  # first trial move spans the box's diagonal
                    if g_norm == 0.0:
                        break
                    step = box.diagonal / g_norm
                new = None
                floor = 1e-12 * (1.0 + math.sqrt(float(x.dot(x))))
                for _ in range(_MAX_TRIALS):  # halvings from the box diagonal to floor
                    if not step * g_norm > floor:
                        break
                    x_new, t_new = self._move(x, t, g_x, g_t, step, box, y_range)
                    moved = float(g_x.dot(x - x_new)) + g_t * (t - t_new)
                    if moved <= 0.0:  # projected gradient vanishes: a stationary point
                        break
                    trial = objective.evaluate(
                        x_new, t_new, Theta_init=ev.fit.Theta, with_gradient=False
                    )
                    if trial.W <= ev.W - 1e-4 * moved:
                        new = objective.differentiate(trial, with_y=with_y)
                        step *= 2.0
                        break
                    step *= 0.5
                if new is None:
                    break
            assert new is not None
            change = abs(new.W - ev.W)
            x, t, ev = x_new, t_new, new
            history.append(ev.W)
            if change < self.tol * max(1.0, abs(history[-2])):
                break
        return x, t, ev, history

    @staticmethod
    def _move(x, t, g_x, g_t, s, box: Box, y_range):
        x_new = box.project(x - s * g_x)
        t_new = min(max(t - s * g_t, y_range[0]), y_range[1]) if g_t else t
        return x_new, t_new
