"""The attacker's objective W for one candidate poison row, and its exact gradient.

    W = α·C + sign·(1 − α)·(E − E_ref),   C = ‖x_p − x_c‖²,
    ∇_{x_p} W = 2α(x_p − x_c) + sign·(1 − α)·∇_{x_p} E,

with sign = +1 for integrity (the attacker lowers E) and −1 for availability (raises
it), E_ref = 0 (the paper's W) or E without the point (the effect search of
:mod:`flexpoison.attack.search`), and ∇_{x_p} E from the implicit
function theorem (:func:`flexpoison.engine.adjoint_gradient`). θ_p, the victim's optimum on the
training set plus (x_p, y_p), comes from the fastest exact solver that applies: the
rank-one solver (squared residuals), warm-started Newton (smooth losses), or the
general solver.

The attack's own trials on a smooth loss that states its curvature rate (logistic,
softmax, the log-link GLMs) are answered by the third-order model of the training
rows (:class:`flexpoison.engine.LocalModel`) whatever n, within its trust
radius; such an evaluation is marked ``modelled``, and :meth:`Objective.exact` turns
the one the attack keeps into the exact optimum (what scikit-learn fits on the same
rows). The public methods (:meth:`Objective.value`, :meth:`Objective.gradient`, …)
are always exact.

A pipeline victim (:mod:`flexpoison.scalers`) refits its scaler on the training set
plus the candidate: its penalty's scale v(x_p) moves with the row, and its effect on
the stationarity condition, ∂g_kj/∂x_pj = (2λ₂·v_j·w_kj + λ₁·sign w_kj)·∂v_j/∂x_pj,
joins the implicit gradient (:func:`flexpoison.engine.scale_term`):

    ∇_{x_p} E  +=  −Σ_k u_kj·(2λ₂·v_j·w_kj + λ₁·sign w_kj)·∂v_j/∂x_pj,   u = H⁻¹∇_θE.

A one-output squared residual (a ridge, lasso or elastic-net pipeline) is solved by
:class:`flexpoison.engine.ScaledSolver`, one factor of H per candidate serving θ_p, E
and u (with L1, on the warm start's support when it is the optimum's); the others by
the general solver, the scale v(x) computed once per evaluation and kept for its
gradient.
"""

from __future__ import annotations

import numpy as np

from .. import engine
from .._validation import check_point
from ..errors import InvalidInputError, SingularHessianError
from ..models import Victim
from ..scalers import ColumnStats, scale_and_slope
from .effects import Effect, LossEffect, public_map
from .goals import Goal


class Evaluation:
    """W and its parts at one candidate point (x, t), with the fitted model behind them.

    ``grad_x``/``grad_y`` are None until asked for (:meth:`Objective.differentiate`);
    ``phi`` = φ(x) and ``dE`` = ∇_Θ E at the fitted model are what the gradient
    reuses. ``fit`` and ``theta`` may be formed on first access: a line search reads
    only W of most points it tries. ``modelled``: θ_p is the local model's
    (:class:`flexpoison.engine.LocalModel`), not yet the exact optimum
    (:meth:`Objective.exact`). A pipeline victim's evaluation keeps what its gradient
    reuses: the scaled solver's trial, or the learner at x with ∂v/∂x_p. Read-only by
    convention (made at every evaluation; a frozen class costs µs to build).
    """

    __slots__ = (
        "W",
        "C",
        "E",
        "grad_x",
        "grad_y",
        "x",
        "t",
        "phi",
        "dE",
        "_theta",
        "_fit",
        "_pending",
        "modelled",
        "_scaled",
        "_scaling",
    )

    def __init__(
        self,
        W: float,
        C: float,
        E: float,
        x: np.ndarray,
        t: float,
        phi: np.ndarray,
        theta: np.ndarray | None = None,
        grad_x: np.ndarray | None = None,
        grad_y: float | None = None,
        fit: engine.Fit | None = None,
        dE: np.ndarray | None = None,
        pending: tuple[engine.RankOneSolver, engine.RankOneTrial, np.ndarray] | None = None,
        modelled: bool = False,
        scaled: tuple[engine.ScaledTrial, np.ndarray] | None = None,
        scaling: tuple[engine.Learner, np.ndarray | None] | None = None,
    ):
        self.modelled = modelled
        self._scaled = scaled  # (trial, T) of the scaled solver: its factor, v; fit, theta
        self._scaling = scaling  # a pipeline's learner at x and ∂v/∂x_p (general solver)
        self.W, self.C, self.E = W, C, E
        self.grad_x, self.grad_y = grad_x, grad_y
        self.x, self.t, self.phi, self.dE = x, t, phi, dE
        self._theta, self._fit = theta, fit
        self._pending = pending  # (solver, trial, T): forms fit and theta on demand

    @property
    def fit(self) -> engine.Fit:
        """The victim's optimum with the candidate added (internal coordinates)."""
        if self._fit is None:
            if self._scaled is not None:
                self._fit = self._scaled[0].fit()
            else:
                assert self._pending is not None
                solver, trial, _ = self._pending
                self._fit = solver.fit_of(trial)
        return self._fit

    @property
    def theta(self) -> np.ndarray:
        """θ_p: the public parameters (flat w…, b) of that optimum."""
        if self._theta is None:
            if self._scaled is not None:
                T = self._scaled[1]
            else:
                assert self._pending is not None
                T = self._pending[2]
            self._theta = self.fit.Theta.dot(T).ravel()
        return self._theta

    def __repr__(self) -> str:
        return f"Evaluation(W={self.W!r}, C={self.C!r}, E={self.E!r}, theta={self.theta!r})"


class Objective:
    """The attacker's objective W for one poison point added to a training set.

    W = α·‖x_p − x_c‖² + sign·(1 − α)·(E(θ_p) − E_ref), θ_p the victim's optimum on
    the training set plus (x_p, y_p), sign the goal's (+1: lower E, −1: raise it): the
    paper's W_I = α·C + (1 − α)·E_I and W_A = α·C − (1 − α)·E_A with E_ref = 0;
    :meth:`effect_gain` gives the effect-only W the share trade-off descends
    (:mod:`flexpoison.attack.search`). Build it with
    :meth:`FlexiblePoisoning.objective`; its results do not depend on what it was
    asked before (it only caches factorisations of its own training set).
    """

    def __init__(
        self,
        *,
        victim: Victim,
        data: engine.RowData | engine.GramData,
        shift: np.ndarray,
        x_c: np.ndarray,
        theta_reference: np.ndarray,
        goal: Goal,
        alpha: float,
        Theta_start: np.ndarray,
        effect: Effect,
        stats: ColumnStats | None = None,
    ):
        self.victim = victim
        self.data = data
        self.shift = shift
        self.x_c = x_c
        self.theta_reference = theta_reference
        self.goal = goal
        self.alpha = alpha
        self.E_ref = 0.0  # E's origin in W: 0 for the paper's W (see effect_gain)
        self.Theta_start = Theta_start
        self.effect = effect
        self.stats = stats  # the training rows' column statistics (pipeline victims)
        self.n_features = x_c.shape[0]
        self._sign = goal.sign
        learner = victim.learner
        self._T = public_map(self.n_features + learner.fit_intercept, shift, learner.fit_intercept)
        self._effect_rows = _loss_effect_rows(effect, data, learner.loss)
        self._make_solvers()

    @property
    def stop_scale(self) -> float:
        """The factor on the effect search's stop tolerance
        (:class:`flexpoison.attack.descent.Descender`): 1; an objective whose W is only
        piecewise smooth may declare a larger one (a linear kernel's)."""
        return 1.0

    def _make_solvers(self, local: engine.LocalModel | None = None) -> None:
        learner = self.victim.learner
        # the last exact solves by the local model: (θ_p, what extends the model by it),
        # shared with this objective's effect_gain copy (mutated in place)
        self._solved: list[tuple[np.ndarray, tuple]] = []
        # the local model's cubic sums over the loss effect's rows (formed when a
        # modelled evaluation first asks; shared with the effect_gain copy likewise)
        self._effect_sums: list[engine.CubicSums] = []
        self._scaled = None
        if self.victim.scaler is not None:  # v moves with the candidate
            self._solver, self._newton, self._local = None, None, None
            self._scaled = engine.ScaledSolver.for_data(learner, self.data, self.effect.quadratic)
            return
        self._solver = engine.RankOneSolver.for_data(learner, self.data, self.effect.quadratic)
        self._newton = engine.NewtonSolver.for_data(learner, self.data)
        if local is None and self._newton is not None:  # one pass over the rows
            local = engine.LocalModel.for_data(learner, self.data, self.Theta_start)
        self._local = local

    def _exact_fit(self, phi: np.ndarray, t: float, Theta_guess: np.ndarray) -> engine.Fit | None:
        """The exact optimum with (φ, t) by the local model's chord steps from
        ``Theta_guess`` (None without a model, or where they stall); remembered for
        :meth:`with_point`."""
        model = self._local
        solved = None if model is None else model.solve(phi, t, Theta_guess)
        if solved is None:
            return None
        self._solved.insert(0, solved)
        del self._solved[4:]
        return engine.Fit(solved[0], None, None, self.data.n + 1)

    def learner_at(self, x: np.ndarray | None) -> tuple[engine.Learner, np.ndarray | None]:
        """The victim's learner on the training set plus the row x (without it if
        None), and ∂v/∂x_p: a pipeline's penalty scale v moves with the rows; a plain
        victim's learner does not (slope None)."""
        scaler = self.victim.scaler
        if scaler is None:
            return self.victim.learner, None
        assert self.stats is not None  # set with the scaler (FlexiblePoisoning._setup)
        v, slope = scale_and_slope(scaler, self.stats, x)
        return self.victim.learner.with_scales(v), slope

    # public, in the user's units and labels
    def value(self, x_p, y_p) -> float:
        """W at (x_p, y_p)."""
        x, t = self._point(x_p, y_p)
        return self.evaluate(x, t, with_gradient=False, exact=True).W

    def gradient(self, x_p, y_p) -> np.ndarray:
        """∇_{x_p} W at (x_p, y_p), shape (d,)."""
        x, t = self._point(x_p, y_p)
        grad = self.evaluate(x, t, exact=True).grad_x
        assert grad is not None
        return grad

    def gradient_y(self, x_p, y_p) -> float:
        """∂W/∂y_p at (x_p, y_p) (regression only)."""
        if self.victim.task != "regression":
            raise InvalidInputError("y_p: the response gradient exists for regression only")
        x, t = self._point(x_p, y_p)
        grad = self.evaluate(x, t, with_y=True, exact=True).grad_y
        assert grad is not None
        return grad

    def theta(self, x_p, y_p) -> np.ndarray:
        """θ_p: the victim's parameters trained with (x_p, y_p) added (flat, public)."""
        x, t = self._point(x_p, y_p)
        return self.evaluate(x, t, with_gradient=False, exact=True).theta

    def _point(self, x_p, y_p) -> tuple[np.ndarray, float]:
        x = check_point(x_p, self.n_features)
        y = np.asarray(y_p)
        if y.ndim != 0:
            raise InvalidInputError(f"y_p: expected a single value, got shape {y.shape}")
        classes = self.victim.classes
        if classes is not None and y.item() not in classes:
            raise InvalidInputError(
                f"y_p: {y.item()!r} is not one of the classes {classes.tolist()}"
            )
        if classes is None and (y.dtype.kind not in "biuf" or not np.isfinite(float(y))):
            raise InvalidInputError(f"y_p: expected a finite number, got {y.item()!r}")
        self.victim.check_targets(y[None], "y_p")
        return x, float(self.victim.encode(y[None])[0])

    # internal, in encoded targets
    def evaluate(
        self,
        x: np.ndarray,
        t: float,
        *,
        Theta_init: np.ndarray | None = None,
        with_gradient: bool = True,
        with_y: bool = False,
        exact: bool = False,
    ) -> Evaluation:
        """Fit θ_p on the training set plus (x, t) and return W (and its gradient).

        Without the gradient, a squared-loss victim's θ_p is not formed unless read:
        :class:`~flexpoison.engine.RankOneSolver` gives E (quadratic in θ_p) at the
        optimum directly. Unless ``exact``, a smooth loss's θ_p may be the local
        model's (module docstring; the evaluation is then ``modelled``)."""
        phi = self._features(x)
        Theta0 = self.Theta_start if Theta_init is None else Theta_init
        offset = x - self.x_c
        C = float(offset.dot(offset))  # ndarray.dot: half the dispatch cost of @
        a = self.alpha
        fit = None
        modelled = False
        if self._scaled is not None:
            scaled = self._scaled_evaluation(x, t, phi, C, Theta0, with_gradient or with_y, with_y)
            if scaled is not None:
                return scaled
        if self._solver is not None:
            trial = self._solver.trial(phi, t, Theta0)
            if trial is not None:
                if trial.value is not None:
                    E = trial.value
                    ev = Evaluation(
                        a * C + self._sign * (1 - a) * (E - self.E_ref),
                        C,
                        E,
                        x,
                        t,
                        phi,
                        pending=(self._solver, trial, self._T),
                    )
                    return self.differentiate(ev, with_y=with_y) if with_gradient or with_y else ev
                fit = self._solver.fit_of(trial)
            else:  # L1, the support changed: the general solver on the solver's statistics
                fit = self._solver.solve(phi, t, Theta0)
        elif self._newton is not None:
            local = None
            if self._local is not None:
                try:
                    local = self._local.trial(phi, t)
                except SingularHessianError:  # the model's A is singular: Newton alone
                    self._local = None
            if local is not None and local.trusted:
                assert local.Theta is not None  # a trusted trial has its θ_p
                if exact:  # solved exactly from the model's θ_p (n-fold faster than Newton)
                    fit = self._exact_fit(phi, t, local.Theta)
                else:
                    fit = engine.Fit(local.Theta, None, local.factor, self.data.n + 1)
                    modelled = True
            if fit is None:  # an untrusted trial: the warm-started Newton solver
                fit = self._newton.fit(phi, t, Theta0)
        scaling = None
        if fit is None:
            scaling = self.learner_at(x)
            fit = engine.fit(scaling[0], engine.PlusRow(self.data, phi, t), Theta0)
        return self._evaluation(fit, x, t, phi, C, with_gradient, with_y, modelled, scaling)

    def _scaled_evaluation(
        self,
        x: np.ndarray,
        t: float,
        phi: np.ndarray,
        C: float,
        Theta0: np.ndarray,
        gradient: bool,
        with_y: bool,
    ) -> Evaluation | None:
        """The evaluation of a pipeline victim by :class:`flexpoison.engine.ScaledSolver`:
        the scale v(x) and its slope once, then θ_p and E from one factor of H (None
        when an L1 model's warm-start support is not the optimum's)."""
        assert self._scaled is not None and self.stats is not None and self.victim.scaler
        v, slope = scale_and_slope(self.victim.scaler, self.stats, x)
        trial = self._scaled.trial(phi, t, v, slope, Theta0)
        if trial is None:
            return None
        ev = Evaluation(0.0, C, 0.0, x, t, phi, scaled=(trial, self._T))
        E = trial.value if trial.value is not None else self.effect.value(ev.fit.Theta, ev.theta)
        ev.E, ev.W = E, self.alpha * C + self._sign * (1 - self.alpha) * (E - self.E_ref)
        return self.differentiate(ev, with_y=with_y) if gradient else ev

    def _evaluation(
        self,
        fit: engine.Fit,
        x: np.ndarray,
        t: float,
        phi: np.ndarray,
        C: float,
        with_gradient: bool,
        with_y: bool,
        modelled: bool,
        scaling: tuple[engine.Learner, np.ndarray | None] | None = None,
    ) -> Evaluation:
        """The evaluation of the fitted θ_p: θ, E, W (and the gradient if asked);
        ``scaling``, a pipeline's :meth:`learner_at` x, is kept for the gradient."""
        theta = self.victim.learner.pack(fit.Theta @ self._T)
        sums = self._modelled_effect() if modelled else None
        if sums is not None:  # E = F/n_e on the training rows, F the model's cubic sums
            F, G = sums(fit.Theta)
            E, dE = F / self._effect_rows, G / self._effect_rows
        elif with_gradient or with_y:
            E, dE = self.effect(fit.Theta, theta)
        else:
            E, dE = self.effect.value(fit.Theta, theta), None
        W = self.alpha * C + self._sign * (1 - self.alpha) * (E - self.E_ref)
        ev = Evaluation(
            W, C, E, x, t, phi, theta, None, None, fit, dE, modelled=modelled, scaling=scaling
        )
        if with_gradient or with_y:
            ev = self.differentiate(ev, with_y=with_y)
        return ev

    def differentiate(self, ev: Evaluation, *, with_y: bool = False) -> Evaluation:
        """``ev`` with ∇_{x_p} W (and ∂W/∂y_p if ``with_y``):
        ∇_{x_p} W = 2α(x_p − x_c) ± (1 − α)·∇_{x_p} E, E's part by the implicit
        function theorem: one formula (:mod:`flexpoison.engine.implicit`), fed with
        u = H⁻¹∇E solved with the fit's factor or, for a squared-residual victim and a
        quadratic E, evaluated in the rank-one trial's own basis
        (:meth:`flexpoison.engine.RankOneSolver.implicit_gradient`)."""
        x, t, phi, pending = ev.x, ev.t, ev.phi, ev._pending
        a, weight = self.alpha, self._sign * (1 - self.alpha)  # W = αC + weight·E
        fit = ev.fit
        dE = None
        if ev._scaled is not None:
            gE_x, gE_t, dE = self._scaled_gradient(ev, with_y)
            gE_x *= weight
            gE_t = None if gE_t is None else weight * gE_t
        elif pending is not None:  # the rank-one solver holds H⁻¹∇E in its own basis
            solver, trial, _ = pending
            term = engine.row_term(self.victim.learner, trial.phi_theta, t, solver.n)
            gE_x, gE_t = solver.implicit_gradient(trial, term, self.n_features, weight)
        else:
            learner, slope = ev._scaling if ev._scaling is not None else self.learner_at(x)
            if fit.factor is None:
                fit = self._with_factor(fit, phi, t, learner)
            dE = ev.dE if ev.dE is not None else self.effect.gradient(fit.Theta, ev.theta)
            gE_x, gE_t = engine.implicit_gradient(
                learner, fit, phi, t, self.n_features, dE, with_target=with_y
            )
            if slope is not None:
                gE_x = gE_x + self._scale_term(learner, fit, dE, slope)
            gE_x = weight * gE_x
            gE_t = None if gE_t is None else weight * gE_t
        grad_x = (2.0 * a) * (x - self.x_c) + gE_x
        return Evaluation(
            ev.W,
            ev.C,
            ev.E,
            x,
            t,
            phi,
            ev._theta,
            grad_x,
            gE_t if with_y else None,
            fit,
            dE,
            pending,
            ev.modelled,
            ev._scaled,
            ev._scaling,
        )

    def _scaled_gradient(
        self, ev: Evaluation, with_y: bool
    ) -> tuple[np.ndarray, float | None, np.ndarray]:
        """(∇_{x_p} E, ∂E/∂t_p or None, ∇_Θ E) of a pipeline's scaled trial: the row's
        term by the one formula (:func:`flexpoison.engine.adjoint_gradient`) and the
        scale's (:meth:`flexpoison.engine.ScaledSolver.penalty_term`), with
        u = H⁻¹∇E from the trial's factor."""
        solver, fit = self._scaled, ev.fit
        assert solver is not None and ev._scaled is not None
        trial = ev._scaled[0]
        dE_flat = solver.observed_gradient(trial)
        if dE_flat is None:
            dE_flat = self.effect.gradient(fit.Theta, ev.theta).ravel()
        u = trial.factor.solve(dE_flat)
        gE_x, gE_t = engine.adjoint_gradient(
            self.victim.learner, fit.Theta, ev.phi, ev.t, fit.n, self.n_features, u, with_y
        )
        return gE_x + solver.penalty_term(trial, u), gE_t, dE_flat[None]

    def exact(self, ev: Evaluation) -> Evaluation:
        """``ev`` itself if exact, else the exact evaluation at its point (without the
        gradient): θ_p solved from the model's by chord steps on exact gradients
        (:meth:`flexpoison.engine.LocalModel.solve`), whose last pass
        :meth:`with_point` then extends the model with, or by the general solver."""
        if not ev.modelled:
            return ev
        fit = self._exact_fit(ev.phi, ev.t, ev.fit.Theta)
        if fit is None:
            learner = self.victim.learner
            fit = engine.fit(learner, engine.PlusRow(self.data, ev.phi, ev.t), ev.fit.Theta)
        return self._evaluation(fit, ev.x, ev.t, ev.phi, ev.C, False, False, False)

    def _modelled_effect(self) -> engine.CubicSums | None:
        """The local model's cubic sums over the loss effect's rows when those are the
        training rows (E of a modelled θ_p without a pass over them), else None."""
        if self._effect_rows == 0 or self._local is None:
            return None
        if not self._effect_sums:
            self._effect_sums.append(self._local.rows_model(self._effect_rows))
        return self._effect_sums[0]

    def _with_factor(
        self, fit: engine.Fit, phi: np.ndarray, t: float, learner: engine.Learner
    ) -> engine.Fit:
        """``fit`` with the exact Hessian factor at its θ (for solvers that skip it)."""
        if self._newton is not None:
            factor: engine.Factor | None = self._newton.factor(fit, phi, t)
        else:
            factor = engine.hessian_factor(learner, engine.PlusRow(self.data, phi, t), fit)
        return engine.Fit(fit.Theta, fit.active, factor, fit.n)

    def _scale_term(
        self, learner: engine.Learner, fit: engine.Fit, dE: np.ndarray, slope: np.ndarray
    ) -> np.ndarray:
        """The pipeline's share of ∇_{x_p} E through the penalty's scale (module doc)."""
        d = self.n_features
        rhs = dE.ravel()
        u = np.zeros_like(rhs) if fit.factor is None else fit.factor.solve(rhs)
        K, p = fit.Theta.shape
        v = learner.scales
        assert v is not None
        U, Wt = u.reshape(K, p)[:, :d], fit.Theta[:, :d]
        return engine.scale_term(U, Wt, v, slope, learner.l2, learner.l1)

    def _features(self, x: np.ndarray) -> np.ndarray:
        return self.victim.learner.feature_row(x, self.shift)

    def effect_at(self, Theta: np.ndarray) -> float:
        """E of the model Θ (internal coordinates)."""
        return self.effect.value(Theta, self.victim.learner.pack(Theta @ self._T))

    def effect_gradient(self, Theta: np.ndarray) -> np.ndarray:
        """∇_Θ E of the model Θ (internal coordinates)."""
        return self.effect.gradient(Theta, self.victim.learner.pack(Theta @ self._T))

    def effect_gain(self, effect_before: float) -> Objective:
        """The same objective with α = 0 and W = sign·(E − E_before): −W is the gain in E
        over the training set without the point (everything else shared; the origin
        only shifts W, so that the stopping rule measures W's changes against E's)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.alpha, new.E_ref = 0.0, float(effect_before)
        return new

    def with_point(self, x: np.ndarray, t: float, Theta: np.ndarray) -> Objective:
        """The same objective on the training set with (x, t) added for good (what does
        not depend on the training set is shared, not rebuilt: once per crafted point)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        local = None
        if self._local is not None:  # the model extends itself, from the exact solve's
            solved = next((s for Theta_p, s in self._solved if Theta_p is Theta), None)
            if solved is None:  # last pass or from one pass at Θ
                solved = self._local.pass_at(self._features(x), t, Theta)
            local = self._local.extended(solved)
            new.data = local.data
        else:
            new.data = self.data.with_row(self._features(x), t)
        new.stats = None if self.stats is None else self.stats.with_rows(x[None])
        new.Theta_start = Theta
        new._make_solvers(local)
        return new

    def with_points(
        self, xs: list[np.ndarray], ts: list[float], Theta_init: np.ndarray
    ) -> Objective:
        """The same objective on the training set with the rows (xs, ts) added for good,
        its model refitted there from ``Theta_init`` (one copy of the training set and
        one fit, whatever the number of rows)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        width = self._features(self.x_c).size  # (no rows: one point run with passes)
        Phi = np.array([self._features(x) for x in xs]).reshape(len(xs), width)
        new.data = self.data.with_rows(Phi, np.asarray(ts, dtype=float))
        if self.stats is not None:
            new.stats = self.stats.with_rows(np.asarray(xs, dtype=float).reshape(len(xs), -1))
        new.Theta_start = engine.fit(new.learner_at(None)[0], new.data, Theta_init).Theta
        new._make_solvers()
        return new


def _loss_effect_rows(effect: Effect, data: object, loss: engine.Loss) -> int:
    """k when ``effect`` is the mean of the victim's own loss over the first k rows of
    ``data`` (a loss effect on the training rows: the local model can answer it),
    else 0."""
    if not isinstance(effect, LossEffect) or not isinstance(data, engine.RowData):
        return 0
    k = effect.Phi.shape[0]
    if effect.loss != loss or k > data.n or effect.Phi.shape[1] != data.Phi.shape[1]:
        return 0
    same = np.array_equal(effect.Phi, data.Phi[:k]) and np.array_equal(effect.t, data.t[:k])
    return k if same else 0


__all__ = ["Evaluation", "Objective"]
