"""The flexible poisoning attack (Jiang et al., Algorithm 1) and its objective W.

:class:`Objective` is W for one candidate poison point (x_p, y_p) added to a training
set, with its exact gradient; :class:`FlexiblePoisoning` crafts m points one at a
time by projected gradient descent on W inside the feasible box, each finished point
joining the training set before the next one starts.

    W_I = α·C + (1 − α)·E_I,   W_A = α·C − (1 − α)·E_A,   C = ‖x_p − x_c‖²
    ∇_{x_p} W = 2α(x_p − x_c) ± (1 − α)·∇_{x_p} E   (E through θ_p, implicitly)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Sequence

import numpy as np

from . import _learners as lrn
from ._estimators import Victim, victim_from_estimator
from ._validation import (check_bounds, check_features, check_fraction, check_point,
                          check_positive, check_targets)
from .errors import InvalidInputError, UnsupportedEstimatorError
from .goals import Availability, Goal, Integrity, LossAvailability, ModelShape

StepRule = Literal["backtracking", "paper"]


# ------------------------------------------------------------------------ the box


@dataclass(frozen=True)
class Box:
    """The feasible set: x_c ± n_sigma·σ per feature, intersected with user bounds."""

    lower: np.ndarray
    upper: np.ndarray

    def project(self, x: np.ndarray) -> np.ndarray:
        """Euclidean projection onto the box (feature-wise clipping)."""
        return np.minimum(np.maximum(x, self.lower), self.upper)

    @property
    def diagonal(self) -> float:
        """‖upper − lower‖ (∞ when a side is unbounded)."""
        return float(np.linalg.norm(self.upper - self.lower))


def feasible_box(X: np.ndarray, n_sigma: float, bounds=None,
                 feature_names: Sequence[str] | None = None) -> Box:
    """x_c − n_sigma·σ ≤ x ≤ x_c + n_sigma·σ (σ: per-feature standard deviation of X),
    intersected with optional ``bounds = (lower, upper)``. ``feature_names`` (e.g. a
    DataFrame's columns) only make error messages name the feature."""
    def feature(j: int) -> str:
        return f"feature {j}" + (f" ({feature_names[j]!r})" if feature_names else "")

    x_c = X.mean(axis=0)
    sigma = X.std(axis=0)
    constant = np.flatnonzero(sigma <= 1e-12 * np.maximum(1.0, np.abs(x_c)))
    if constant.size:
        others = ", ".join(feature(int(j)) for j in constant[1:])
        raise InvalidInputError(
            f"X: {feature(int(constant[0]))} is constant (σ = 0), so its 3σ box is a "
            "single point and it carries no information; remove it"
            + (f" (also constant: {others})" if others else ""))
    lower, upper = x_c - n_sigma * sigma, x_c + n_sigma * sigma
    if bounds is not None:
        user_lower, user_upper = check_bounds(bounds, X.shape[1])
        lower, upper = np.maximum(lower, user_lower), np.minimum(upper, user_upper)
        if np.any(lower > upper):
            j = int(np.argmax(lower > upper))
            raise InvalidInputError(f"bounds: for {feature(j)} the user bounds do not "
                                    f"intersect the {n_sigma:g}σ box")
    return Box(lower, upper)


def _column_names(X) -> list[str] | None:
    """The column names of a table-like X (a pandas DataFrame's ``columns``), if any."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = [str(c) for c in columns]
    return names if len(names) == np.shape(X)[1] else None


# ---------------------------------------------------------------------- effects


def public_map(p: int, shift: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """T (p × p) with public Θ = Θ_internal·T: w is kept and b = b̃ − w·shift.

    The internal model is centred at ``shift`` (see :mod:`flexpoison._learners`);
    without an intercept T = I."""
    T = np.eye(p)
    if fit_intercept:
        T[:-1, -1] = -shift
    return T


@dataclass(frozen=True)
class DistanceEffect:
    """E = ‖θ − θ_ref‖² on the public θ (E_I with θ_t, E_A with θ₀).

    With θ = vec(Θ·T): ∇_Θ E = 2(Θ·T − Θ_ref)·Tᵀ = Θ·(2TTᵀ) − 2Θ_ref·Tᵀ, the two
    constant factors formed once.
    """

    reference: np.ndarray
    T: np.ndarray
    _TT2: np.ndarray = field(init=False, repr=False, compare=False)
    _ref_T2: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        p = self.T.shape[0]
        object.__setattr__(self, "_TT2", 2.0 * self.T @ self.T.T)
        object.__setattr__(self, "_ref_T2", 2.0 * self.reference.reshape(-1, p) @ self.T.T)

    def value(self, Theta: np.ndarray, theta: np.ndarray) -> float:
        diff = theta - self.reference
        return float(diff @ diff)

    @cached_property
    def quadratic(self) -> lrn.Quadratic | None:
        """E as θᵀMθ + 2mᵀθ + m₀ on the internal θ of a one-output model:
        M = TTᵀ, m = −T·θ_ref, m₀ = ‖θ_ref‖² (None for several outputs)."""
        p = self.T.shape[0]
        if self.reference.size != p:
            return None
        return lrn.Quadratic(0.5 * self._TT2, -0.5 * self._ref_T2[0],
                             float(self.reference @ self.reference))

    def gradient(self, Theta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return Theta @ self._TT2 - self._ref_T2

    def __call__(self, Theta: np.ndarray, theta: np.ndarray
                 ) -> tuple[float, np.ndarray]:
        return self.value(Theta, theta), self.gradient(Theta, theta)


@dataclass(frozen=True)
class LossEffect:
    """E = (1/n_e)·Σ_i ℓ(Θ φ_i, t_i) on fixed rows; ∇_Θ E = (1/n_e)·Σ_i ℓ'_i ⊗ φ_i."""

    loss: lrn.Loss
    Phi: np.ndarray
    t: np.ndarray

    def value(self, Theta: np.ndarray, theta: np.ndarray) -> float:
        Z = self.Phi @ Theta.T
        return float(np.sum(self.loss.value(Z, self.t))) / self.Phi.shape[0]

    def gradient(self, Theta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return self(Theta, theta)[1]

    @cached_property
    def quadratic(self) -> lrn.Quadratic | None:
        """E as θᵀMθ + 2mᵀθ + m₀ when ℓ is quadratic with one output (else None): by
        Taylor's formula at z = 0, ℓ(z, t) = ℓ(0, t) + ℓ'(0, t)·z + ½ℓ''·z², so
        M = ℓ''·ΦᵀΦ / (2n_e), m = Σ_i ℓ'(0, t_i)·φ_i / (2n_e), m₀ = Σ_i ℓ(0, t_i) / n_e."""
        if not self.loss.quadratic or self.loss.n_outputs != 1:
            return None
        n = self.Phi.shape[0]
        zero = np.zeros((n, 1))
        curvature = float(self.loss.d2(zero[:1], self.t[:1])[0, 0, 0])
        M = (0.5 * curvature / n) * (self.Phi.T @ self.Phi)
        m = (self.loss.d1(zero, self.t)[:, 0] @ self.Phi) / (2 * n)
        return lrn.Quadratic(M, m, float(np.sum(self.loss.value(zero, self.t))) / n)

    def __call__(self, Theta: np.ndarray, theta: np.ndarray
                 ) -> tuple[float, np.ndarray]:
        sums = lrn.RowData(self.Phi, self.t).sums(self.loss, Theta, want_hess=False)
        n = self.Phi.shape[0]
        return sums.value / n, sums.grad / n


# ------------------------------------------------------------------- the objective


class Evaluation:
    """W and its parts at one candidate point (x, t), with the fitted model behind them.

    ``grad_x``/``grad_y`` are None until asked for (:meth:`Objective.differentiate`);
    ``phi`` = φ(x) and ``dE`` = ∇_Θ E at the fitted model are what the gradient
    reuses. ``fit`` and ``theta`` may be formed on first access: a line search reads
    only W of most points it tries. Read-only by convention (made at every
    evaluation; a frozen class costs µs to build).
    """

    __slots__ = ("W", "C", "E", "grad_x", "grad_y", "x", "t", "phi", "dE", "_theta",
                 "_fit", "_pending")

    def __init__(self, W: float, C: float, E: float, theta: np.ndarray | None = None,
                 grad_x: np.ndarray | None = None, grad_y: float | None = None,
                 fit: lrn.Fit | None = None, x: np.ndarray | None = None,
                 t: float | None = None, phi: np.ndarray | None = None,
                 dE: np.ndarray | None = None, *, pending=None):
        self.W, self.C, self.E = W, C, E
        self.grad_x, self.grad_y = grad_x, grad_y
        self.x, self.t, self.phi, self.dE = x, t, phi, dE
        self._theta, self._fit = theta, fit
        self._pending = pending  # (solver, trial, T): forms fit and theta on demand

    @property
    def fit(self) -> lrn.Fit:
        """The victim's optimum with the candidate added (internal coordinates)."""
        if self._fit is None:
            solver, trial, _ = self._pending
            self._fit = solver.fit_of(trial)
        return self._fit

    @property
    def theta(self) -> np.ndarray:
        """θ_p: the public parameters (flat w…, b) of that optimum."""
        if self._theta is None:
            self._theta = self.fit.Theta.dot(self._pending[2]).ravel()
        return self._theta

    def __repr__(self) -> str:
        return f"Evaluation(W={self.W!r}, C={self.C!r}, E={self.E!r}, theta={self.theta!r})"


class Objective:
    """The attacker's objective W for one poison point added to a training set.

    W_I = α·‖x_p − x_c‖² + (1 − α)·‖θ_p − θ_t‖² (integrity) or
    W_A = α·‖x_p − x_c‖² − (1 − α)·‖θ_p − θ₀‖² (availability), where θ_p is the
    victim's optimum on the training set plus (x_p, y_p). Build it with
    :meth:`FlexiblePoisoning.objective`; its results do not depend on what it was
    asked before (it only caches factorisations of its own training set).
    """

    def __init__(self, *, victim: Victim, data: lrn.Data, shift: np.ndarray,
                 x_c: np.ndarray, theta_reference: np.ndarray, goal: Goal, alpha: float,
                 Theta_start: np.ndarray, effect: DistanceEffect | LossEffect):
        self.victim = victim
        self.data = data
        self.shift = shift
        self.x_c = x_c
        self.theta_reference = theta_reference
        self.goal = goal
        self.alpha = alpha
        self.Theta_start = Theta_start
        self.effect = effect
        self.n_features = x_c.shape[0]
        self._sign = 1.0 if goal.kind == "integrity" else -1.0
        learner = victim.learner
        self._T = public_map(self.n_features + learner.fit_intercept, shift,
                             learner.fit_intercept)
        self._make_solvers()

    def _make_solvers(self) -> None:
        learner = self.victim.learner
        self._solver = lrn.RankOneSolver.for_data(learner, self.data, self.effect.quadratic)
        self._newton = lrn.NewtonSolver.for_data(learner, self.data)

    # public, in the user's units and labels
    def value(self, x_p, y_p) -> float:
        """W at (x_p, y_p)."""
        x, t = self._point(x_p, y_p)
        return self.evaluate(x, t, with_gradient=False).W

    def gradient(self, x_p, y_p) -> np.ndarray:
        """∇_{x_p} W at (x_p, y_p), shape (d,)."""
        x, t = self._point(x_p, y_p)
        return self.evaluate(x, t).grad_x

    def gradient_y(self, x_p, y_p) -> float:
        """∂W/∂y_p at (x_p, y_p) (regression only)."""
        if self.victim.task != "regression":
            raise InvalidInputError("y_p: the response gradient exists for regression only")
        x, t = self._point(x_p, y_p)
        return self.evaluate(x, t, with_y=True).grad_y

    def theta(self, x_p, y_p) -> np.ndarray:
        """θ_p: the victim's parameters trained with (x_p, y_p) added (flat, public)."""
        x, t = self._point(x_p, y_p)
        return self.evaluate(x, t, with_gradient=False).theta

    def _point(self, x_p, y_p) -> tuple[np.ndarray, float]:
        x = check_point(x_p, self.n_features)
        y = np.asarray(y_p)
        if y.ndim != 0:
            raise InvalidInputError(f"y_p: expected a single value, got shape {y.shape}")
        if self.victim.task == "classification" and y.item() not in self.victim.classes:
            raise InvalidInputError(f"y_p: {y.item()!r} is not one of the classes "
                                    f"{self.victim.classes.tolist()}")
        if self.victim.task == "regression":
            if y.dtype.kind not in "biuf" or not np.isfinite(float(y)):
                raise InvalidInputError(f"y_p: expected a finite number, got {y.item()!r}")
        return x, float(self.victim.encode(y[None])[0])

    # internal, in encoded targets
    def evaluate(self, x: np.ndarray, t: float, *, Theta_init: np.ndarray | None = None,
                 with_gradient: bool = True, with_y: bool = False) -> Evaluation:
        """Fit θ_p on the training set plus (x, t) and return W (and its gradient).

        Without the gradient, a squared-loss victim's θ_p is not formed unless read:
        :class:`~flexpoison._learners.RankOneSolver` gives E (quadratic in θ_p) at the
        optimum directly."""
        phi = self._features(x)
        Theta0 = self.Theta_start if Theta_init is None else Theta_init
        offset = x - self.x_c
        C = float(offset.dot(offset))  # ndarray.dot: half the dispatch cost of @
        a = self.alpha
        fit = None
        if self._solver is not None:
            trial = self._solver.trial(phi, t, Theta0)
            if trial is not None:
                if trial.value is not None:
                    E = trial.value
                    ev = Evaluation(a * C + self._sign * (1 - a) * E, C, E, None, None,
                                    None, None, x, t, phi, None,
                                    pending=(self._solver, trial, self._T))
                    return self.differentiate(ev, with_y=with_y) \
                        if with_gradient or with_y else ev
                fit = self._solver.fit_of(trial)
        elif self._newton is not None:
            fit = self._newton.fit(phi, t, Theta0)
        if fit is None:
            fit = lrn.fit(self.victim.learner, lrn.PlusRow(self.data, phi, t), Theta0)
        theta = (fit.Theta @ self._T).ravel()
        if with_gradient or with_y:
            E, dE = self.effect(fit.Theta, theta)
        else:
            E, dE = self.effect.value(fit.Theta, theta), None
        ev = Evaluation(a * C + self._sign * (1 - a) * E, C, E, theta, None, None, fit,
                        x, t, phi, dE)
        if with_gradient or with_y:
            ev = self.differentiate(ev, with_y=with_y)
        return ev

    def differentiate(self, ev: Evaluation, *, with_y: bool = False) -> Evaluation:
        """``ev`` with ∇_{x_p} W (and ∂W/∂y_p if ``with_y``):
        ∇_{x_p} W = 2α(x_p − x_c) ± (1 − α)·∇_{x_p} E, E's part by the implicit
        function theorem (:func:`flexpoison._learners.implicit_gradient`; for a
        squared-loss victim and a quadratic E,
        :meth:`flexpoison._learners.RankOneSolver.observed_gradient`, the same formula
        with H⁻¹∇E read off quantities the evaluation already has)."""
        x, t, phi, pending = ev.x, ev.t, ev.phi, ev._pending
        a, weight = self.alpha, self._sign * (1 - self.alpha)  # W = αC + weight·E
        fit = ev.fit
        dE = None
        if pending is not None:
            gE_x, gE_t = pending[0].observed_gradient(pending[1], t, self.n_features,
                                                      weight)
        else:
            if fit.factor is None:
                fit = self._with_factor(fit, phi, t)
            dE = ev.dE if ev.dE is not None else self.effect.gradient(fit.Theta, ev.theta)
            gE_x, gE_t = lrn.implicit_gradient(self.victim.learner, fit, phi, t,
                                               self.n_features, dE, with_target=with_y)
            gE_x = weight * gE_x
            gE_t = None if gE_t is None else weight * gE_t
        grad_x = (2.0 * a) * (x - self.x_c) + gE_x
        return Evaluation(ev.W, ev.C, ev.E, ev._theta, grad_x, gE_t if with_y else None,
                          fit, x, t, phi, dE, pending=pending)

    def _with_factor(self, fit: lrn.Fit, phi: np.ndarray, t: float) -> lrn.Fit:
        """``fit`` with the exact Hessian factor at its θ (for solvers that skip it)."""
        if self._newton is not None:
            factor = self._newton.factor(fit, phi, t)
        else:
            factor = lrn.hessian_factor(self.victim.learner,
                                        lrn.PlusRow(self.data, phi, t), fit)
        return lrn.Fit(fit.Theta, fit.active, factor, fit.n)

    def _features(self, x: np.ndarray) -> np.ndarray:
        return self.victim.learner.feature_row(x, self.shift)

    def with_point(self, x: np.ndarray, t: float, Theta: np.ndarray) -> Objective:
        """The same objective on the training set with (x, t) added for good (what does
        not depend on the training set is shared, not rebuilt: once per crafted point)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.data = self.data.with_row(self._features(x), t)
        new.Theta_start = Theta
        new._make_solvers()
        return new


# ------------------------------------------------------------------------ results


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


# ------------------------------------------------------------------------- attack


@dataclass(frozen=True)
class _Setup:
    X: np.ndarray
    victim: Victim
    box: Box
    objective: Objective
    theta_clean: np.ndarray
    t: np.ndarray          # encoded clean targets


@dataclass(frozen=True)
class FlexiblePoisoning:
    """Craft poison rows against a scikit-learn linear or logistic model.

    Parameters
    ----------
    estimator : unfitted scikit-learn estimator
        ``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet`` or ``LogisticRegression``
        (L2 penalty); its hyper-parameters define the victim's training objective.
    goal : Integrity or Availability, default Integrity()
        What the attacker wants (see :mod:`flexpoison.goals`).
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
        points, targets, histories, effects, thetas, concealment, n_iter = \
            [], [], [], [], [], [], []
        Theta = objective.Theta_start
        theta_poisoned = setup.theta_clean

        from tqdm.auto import tqdm  # imported here: only the attack loop shows progress
        bar = tqdm(range(m), disable=None if self.progress is None else not self.progress,
                   desc="poison points", unit="pt", leave=False)
        for _ in bar:
            row = int(rng.integers(n))
            x0 = box.project(setup.X[row])
            t0 = setup.t[row] if victim.task == "regression" else \
                victim.flipped(setup.t[row], rng)
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

        dtype = setup.X.dtype if setup.X.dtype.kind == "f" else np.float64
        X_poison = np.asarray(points, dtype=float).reshape(m, d).astype(dtype)
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
        goal = {"kind": self.goal.kind}
        if isinstance(self.goal, Integrity):
            target = self.goal.target
            goal["target"] = target if target is None or isinstance(target, str) \
                else np.asarray(target, dtype=float).tolist()
        return {
            "estimator": repr(self.estimator), "goal": goal, "alpha": self.alpha,
            "n_points": self.n_points, "rate": self.rate, "step": self.step,
            "max_iter": self.max_iter, "tol": self.tol, "optimize_y": self.optimize_y,
            "n_sigma": self.n_sigma,
            "bounds": None if self.bounds is None  # JSON has no ±inf: unbounded is null
            else [[float(v) if np.isfinite(v) else None for v in np.asarray(b, dtype=float)]
                  for b in self.bounds],
            "random_state": int(self.random_state)
            if isinstance(self.random_state, numbers.Integral) else None,
        }

    # ----------------------------------------------------------------- internals
    def _check_params(self, need_budget: bool = True) -> None:
        check_fraction(self.alpha, "alpha")
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.Generator)
                or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool)
                    and rs >= 0)):
            raise InvalidInputError(f"random_state: expected None, an integer ≥ 0 or a "
                                    f"numpy Generator, got {rs!r}")
        if not isinstance(self.goal, (Integrity, Availability, LossAvailability)):
            raise InvalidInputError(f"goal: expected Integrity(...), Availability() or "
                                    f"LossAvailability(...), got {self.goal!r}")
        if need_budget and (self.n_points is None) == (self.rate is None):
            raise InvalidInputError("give exactly one of n_points and rate")
        if self.n_points is not None:
            check_positive(self.n_points, "n_points", integer=True)
        if self.rate is not None:
            check_positive(self.rate, "rate")
        if self.step not in ("backtracking", "paper"):
            raise InvalidInputError(f"step: expected 'backtracking' or 'paper', "
                                    f"got {self.step!r}")
        check_positive(self.max_iter, "max_iter", integer=True)
        check_positive(self.tol, "tol")
        check_positive(self.n_sigma, "n_sigma")

    def _n_points(self, n: int) -> int:
        if self.n_points is not None:
            if self.n_points > 100 * n:
                raise InvalidInputError(f"n_points: {self.n_points} poison rows for {n} "
                                        "clean rows is more than a hundredfold")
            return int(self.n_points)
        if self.rate > 100:
            raise InvalidInputError(f"rate: {self.rate:g} would add more than a hundred "
                                    "poison rows per clean row")
        m = round(self.rate * n)
        if m < 1:
            raise InvalidInputError(f"rate: {self.rate} of {n} rows rounds to 0 poison "
                                    "points; use a larger rate or n_points")
        return m

    def _setup(self, X, y, sample_weight, need_budget: bool = True) -> _Setup:
        self._check_params(need_budget)
        if sample_weight is not None:
            raise UnsupportedEstimatorError("sample_weight is not supported: the victim "
                                            "is trained with unit weights")
        names = _column_names(X)
        X = check_features(X, "X", min_rows=2)
        n, d = X.shape
        y_arr = np.asarray(y)
        task = "classification" if type(self.estimator).__name__ == "LogisticRegression" \
            else "regression"
        y_arr = check_targets(y_arr, n, task)
        victim = victim_from_estimator(self.estimator, y_arr)
        if self.optimize_y and victim.task != "regression":
            raise InvalidInputError("optimize_y: only regression responses can be "
                                    "optimised; class labels are flipped instead")
        Xf = X.astype(float)
        box = feasible_box(Xf, self.n_sigma, self.bounds, names)
        learner = victim.learner
        x_c = Xf.mean(axis=0)
        shift = x_c if learner.fit_intercept else np.zeros(d)
        t = victim.encode(y_arr)
        Phi = learner.features(Xf, shift)
        data = lrn.GramData.from_rows(Phi, t) if learner.loss.quadratic \
            else lrn.RowData(Phi, t)
        K, p = learner.n_outputs, Phi.shape[1]
        fit0 = lrn.fit(learner, data, np.zeros((K, p)))
        T = public_map(p, shift, learner.fit_intercept)
        theta_clean = (fit0.Theta @ T).ravel()
        shape = ModelShape(d, K, learner.fit_intercept, victim.task,
                           None if victim.classes is None else tuple(victim.classes))
        reference = self.goal.reference(theta_clean, shape)
        if isinstance(self.goal, LossAvailability):
            effect = self._loss_effect(victim, Xf, y_arr, shift)
        else:
            effect = DistanceEffect(reference, T)
        objective = Objective(victim=victim, data=data, shift=shift, x_c=x_c,
                              theta_reference=reference, goal=self.goal,
                              alpha=float(self.alpha), Theta_start=fit0.Theta,
                              effect=effect)
        return _Setup(X, victim, box, objective, theta_clean, t)

    def _loss_effect(self, victim: Victim, X: np.ndarray, y: np.ndarray,
                     shift: np.ndarray) -> LossEffect:
        goal = self.goal
        if (goal.X_eval is None) != (goal.y_eval is None):
            raise InvalidInputError("goal: give both X_eval and y_eval, or neither")
        if goal.X_eval is not None:
            d = X.shape[1]
            X = check_features(goal.X_eval, "X_eval").astype(float)
            if X.shape[1] != d:
                raise InvalidInputError(f"X_eval: has {X.shape[1]} features, X has {d}")
            y = check_targets(goal.y_eval, X.shape[0], victim.task, "y_eval")
            if victim.task == "classification" and not np.all(np.isin(y, victim.classes)):
                raise InvalidInputError("y_eval: contains labels that are not in y")
        return LossEffect(victim.learner.loss, victim.learner.features(X, shift),
                          victim.encode(y))

    def _descend(self, objective: Objective, x: np.ndarray, t: float,
                 Theta: np.ndarray, box: Box, y_range: tuple[float, float]):
        """Projected gradient descent on W for one point; returns x, t, final eval, W's.

        Trial points of the line search are evaluated without their gradient: only an
        accepted point is differentiated."""
        with_y = self.optimize_y
        ev = objective.evaluate(x, t, Theta_init=Theta, with_y=with_y)
        history = [ev.W]
        step = None
        paper = self.step == "paper"
        for i in range(1, self.max_iter + 1):
            g_x, g_t = ev.grad_x, (ev.grad_y if with_y else 0.0)
            if paper:
                x_new, t_new = self._move(x, t, g_x, g_t, 1.0 / i, box, y_range)
                new = objective.evaluate(x_new, t_new, Theta_init=ev.fit.Theta,
                                         with_y=with_y)
            else:
                g_norm = math.sqrt(float(g_x.dot(g_x)) + g_t * g_t)
                if step is None:  # first trial move spans the box's diagonal
                    if g_norm == 0.0:
                        break
                    step = box.diagonal / g_norm
                new = None
                floor = 1e-12 * (1.0 + math.sqrt(float(x.dot(x))))
                while step * g_norm > floor:
                    x_new, t_new = self._move(x, t, g_x, g_t, step, box, y_range)
                    moved = float(g_x.dot(x - x_new)) + g_t * (t - t_new)
                    if moved <= 0.0:  # projected gradient vanishes: a stationary point
                        break
                    trial = objective.evaluate(x_new, t_new, Theta_init=ev.fit.Theta,
                                               with_gradient=False)
                    if trial.W <= ev.W - 1e-4 * moved:
                        new = objective.differentiate(trial, with_y=with_y)
                        step *= 2.0
                        break
                    step *= 0.5
                if new is None:
                    break
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
