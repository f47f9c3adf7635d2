"""The attacker's objective against a kernel victim (:mod:`flexpoison.models.kernel`).

A kernel victim has no θ; its goals are stated on its decision function f (Biggio et al.,
2012): E = (f(x*) − v)² for ``Integrity("predict:v@x*")``, E = the mean hinge loss
max(0, 1 − ỹ f(z)) on the evaluation rows for ``LossAvailability``. W and ∇_{x_p} W
are as for every victim (:mod:`flexpoison.attack.objective`),

    W = α·C + sign·(1 − α)·(E − E_ref),   ∇_{x_p} W = 2α(x_p − x_c) + sign·(1 − α)·∇E,

with ∇E = Σ_z ∂E/∂f(z)·∂f(z)/∂x_p through the margin support vectors' KKT system
(:mod:`flexpoison.engine.dual`). The "θ" of an evaluation is the vector of decision
values f(z) at the goal's rows; the model state a search carries (``fit.Theta``) is
(β…, b) on the current rows.

With the linear kernel each evaluation follows the exact optimum from the state it is
given to the new candidate row (:mod:`flexpoison.engine.homotopy`: a parametric
active-set path, one small LU and one pass over the rows per set change), and its state
carries the candidate row, (β…, b, x_p), where that path starts next; a far move starts
from the rows' own optimum instead (:data:`_FAR`, :data:`_SHORT`), and whatever the path
cannot solve (degenerate margins, C so large that f loses its precision) goes to
:func:`flexpoison.engine.dual.fit` as for the other kernels. On the breast-cancer attack
of ``benchmarks/bench_peers.py`` an evaluation crosses 11 pieces on average where the
dual active-set finish took 16 steps, each a few times dearer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import engine
from .._threads import one_blas_thread
from ..engine import dual, homotopy
from ..engine.active_set import MARGIN
from ..engine.dual import DualFit, Kernel
from ..errors import InvalidInputError
from ..models import Victim
from ..models import kernel as kernel_models
from .effects import LossEffect
from .goals import Goal, LossAvailability, predict_target
from .objective import Evaluation, Objective


@dataclass(frozen=True)
class DecisionEffect:
    """E of the decision values f at rows Z: ``"squared"`` Σ (f − v)², or ``"hinge"``
    mean max(0, 1 − ỹ f); :meth:`__call__` gives E and ∂E/∂f."""

    Z: np.ndarray
    kind: str
    target: np.ndarray

    def __call__(self, f: np.ndarray) -> tuple[float, np.ndarray]:
        if self.kind == "squared":
            r = f - self.target
            return float(r @ r), 2.0 * r
        margin = 1.0 - self.target * f
        n = f.size
        return float(np.maximum(margin, 0.0).sum()) / n, -(self.target * (margin > 0)) / n


def _fit(kernel: Kernel, X, t, C: float, K=None, name="the classifier", start=None) -> DualFit:
    """:func:`dual.fit` with libsvm's solver (:func:`kernel_models.libsvm_fit`), from
    the model state ``start`` (β…, b) of a previous fit when given."""
    return dual.fit(kernel, X, t, C, K, solve=kernel_models.libsvm_fit, name=name, start=start)


#: pieces a followed linear-kernel fit may cross beyond one per row (then dual.fit)
_PATH_STEPS = 100
#: A linear-kernel classifier's candidate moved from a state with β_p by Δx tilts every margin by
#: up to |β_p|·|x_i·Δx|: beyond |β_p|·‖Δx‖·(rms row norm) = _FAR its path is followed
#: from the rows' own optimum, whose length does not grow with the move, as it is when
#: the path from the state passes _SHORT pieces. On the breast-cancer attack's trials
#: (mean pieces per evaluation: 26 from the state, 53 from the rows' optimum, 10.8 for
#: the shorter of the two) these choices take 11.4.
_FAR = 16.0
_SHORT = 50


#: The effect search against a linear kernel stops once a step adds less than 10⁴·tol
#: of the point's gain so far (10 % at the default tol; see
#: :class:`flexpoison.attack.descent.Descender`). Its W is piecewise smooth in x_p, with
#: a ridge where the candidate meets its margin at α_p = C, and the descent's tail
#: crawls along it: on benchmarks/bench_peers.py's linear case 85 % of the evaluations
#: came after iteration 10. Without that tail the attack is no weaker on the means over
#: random_state 0–9 of bench_svc's linear kernel (test hinge 0.296 → 0.303) and of
#: svc_cases' fair-linear (E_L 0.643 → 0.645), and a little weaker on 0–7 of bench_peers
#: (0.133 → 0.127, secml's 0.056) at 155 → 29 evaluations per point; a single seed's
#: result moves by more than that either way. Not for other kernels: bench_svc's RBF,
#: random_state 0–2, lost with it (0.260 → 0.247).
LINEAR_STOP_SCALE = 1e4


def _rms_norm(X: np.ndarray) -> float:
    """The root-mean-square norm of the rows of X."""
    return float(np.sqrt(np.mean(np.einsum("ij,ij->i", X, X)))) if X.size else 0.0


class KernelEvaluation(Evaluation):
    """An :class:`Evaluation` that also holds the dual fit (``dual``)."""

    __slots__ = ("dual", "kernel", "gamma_slope")
    dual: DualFit
    kernel: Kernel
    gamma_slope: np.ndarray | None


def _effect(goal: Goal, victim: Victim, X: np.ndarray, y: np.ndarray, name: str):
    """The goal's :class:`DecisionEffect`, or a refusal by name of a θ-based goal."""
    if goal.kind not in kernel_models.GOALS:
        raise InvalidInputError(
            f"goal: {type(goal).__name__}() measures ‖θ_p − θ₀‖², and {name} has no θ; "
            "use LossAvailability() or Integrity('predict:v@x*')"
        )
    if isinstance(goal, LossAvailability):
        d = X.shape[1]
        rows = goal.effect(victim, X, y, np.zeros(d), np.zeros(0))  # checks X_eval, y_eval
        assert isinstance(rows, LossEffect)
        return DecisionEffect(rows.Phi[:, :d].copy(), "hinge", np.asarray(rows.t))
    target = getattr(goal, "target", None)
    if target is None:
        raise InvalidInputError(
            f"target: {type(goal).__name__}() against {name} needs a target "
            "'predict:v@x1,x2,…' (the decision value v wanted at x*): it has no θ for a preset"
        )
    if not (isinstance(target, str) and target.strip().startswith("predict:")):
        raise InvalidInputError(
            f"target: {target!r} is a target θ_t, and {name} has no θ; give "
            "'predict:v@x1,x2,…' (the decision value v wanted at x*)"
        )
    v, x_star = predict_target(target.strip(), X.shape[1])
    return DecisionEffect(x_star[None], "squared", np.array([v]))


class KernelObjective(Objective):
    """W for one candidate poison row added to a kernel victim's training set (module
    docstring); the same interface as :class:`Objective` (``value``, ``gradient``,
    ``theta`` — here the decision values at the goal's rows). ``scaled``: γ is
    scikit-learn's gamma='scale', refitted with the rows (:func:`dual.scaled_gamma`)."""

    def __init__(
        self,
        *,
        victim: Victim,
        kernel: dual.Kernel,
        C: float,
        X: np.ndarray,
        t: np.ndarray,
        x_c: np.ndarray,
        goal: Goal,
        alpha: float,
        effect: DecisionEffect,
        scaled: bool = False,
        name: str = "the classifier",
    ):
        self.victim, self.kernel, self.C, self.scaled = victim, kernel, C, scaled
        self.name = name
        self.X, self.t = X, t
        self.pairs = kernel.base(X, X)  # γ-free (rbf: squared distances)
        self._row_scale = _rms_norm(X)
        self.gram = self.kernel_for(X)[0].apply(self.pairs)
        self.x_c, self.goal, self.alpha = x_c, goal, alpha
        self.decision_effect = effect
        self.E_ref = 0.0
        self.n_features = x_c.shape[0]
        self._sign = goal.sign
        self.shift = np.zeros(self.n_features)
        self.stats = None
        self._solver, self._newton = None, None
        self.Theta_start = _fit(self.kernel_for(X)[0], X, t, C, self.gram, name).Theta
        if effect.kind == "squared":
            self.theta_reference = effect.target.copy()
        else:
            self.theta_reference = self.decision(self.Theta_start)

    @classmethod
    def build(cls, estimator, victim: Victim, X, y, t, x_c, goal: Goal, alpha: float):
        """The objective of a kernel ``estimator`` trained on (X, y) (t: encoded ±1)."""
        kernel, C, scaled = kernel_models.kernel_of(estimator, X.shape[1])
        name = kernel_models.label(estimator)
        effect = _effect(goal, victim, X, y, name)
        return cls(
            victim=victim,
            kernel=kernel,
            C=C,
            X=X,
            t=t,
            x_c=x_c,
            goal=goal,
            alpha=alpha,
            effect=effect,
            scaled=scaled,
            name=name,
        )

    @property
    def stop_scale(self) -> float:
        """The factor on the effect search's stop tolerance (:data:`LINEAR_STOP_SCALE`
        for the linear kernel, 1 for the others)."""
        return LINEAR_STOP_SCALE if self.kernel.kind == kernel_models.LINEAR else 1.0

    def kernel_for(self, X: np.ndarray) -> tuple[dual.Kernel, np.ndarray | None]:
        """The kernel on the rows X and ∂γ/∂x of their last row (None: γ is fixed)."""
        if not self.scaled:
            return self.kernel, None
        gamma, slope = dual.scaled_gamma(X)
        return replace(self.kernel, gamma=gamma), slope

    def decision(self, Theta: np.ndarray) -> np.ndarray:
        """f at the goal's rows for the model state Θ = (β…, b) on the current rows."""
        row = np.ravel(Theta)[: self.X.shape[0] + 1]
        kernel = self.kernel_for(self.X)[0]
        return kernel.matrix(self.decision_effect.Z, self.X) @ row[:-1] + row[-1]

    def _pairs_with(self, x: np.ndarray) -> np.ndarray:
        """:meth:`dual.Kernel.base` on the rows plus x, extending the cached one."""
        n = self.X.shape[0]
        P = np.empty((n + 1, n + 1))
        P[:n, :n] = self.pairs
        P[:n, n] = P[n, :n] = self.kernel.base(self.X, x[None])[:, 0]
        P[n, n] = self.kernel.base(x[None], x[None])[0, 0]
        return P

    def _gram_with(self, x: np.ndarray, kernel: dual.Kernel) -> np.ndarray:
        if self.scaled:  # γ moved: every entry moves
            return kernel.apply(self._pairs_with(x))
        n = self.X.shape[0]
        K = np.empty((n + 1, n + 1))
        K[:n, :n] = self.gram
        k = kernel.matrix(self.X, x[None])[:, 0]
        K[:n, n] = K[n, :n] = k
        K[n, n] = kernel.matrix(x[None], x[None])[0, 0]
        return K

    def evaluate(
        self,
        x: np.ndarray,
        t: float,
        *,
        Theta_init: np.ndarray | None = None,
        with_gradient: bool = True,
        with_y: bool = False,
        exact: bool = True,
    ) -> Evaluation:
        """Fit the victim on the training rows plus (x, t); W (and its gradient). Always
        exact (``exact`` is the interface of :meth:`Objective.evaluate`); the fit starts
        from ``Theta_init`` (β…, b), or from the training rows' optimum."""
        with one_blas_thread():
            return self._evaluate(x, t, Theta_init, with_gradient or with_y)

    def _evaluate(self, x, t, Theta_init, with_gradient: bool) -> Evaluation:
        X_all = np.vstack([self.X, x[None]])
        kernel, slope = self.kernel_for(X_all)
        start = self.Theta_start if Theta_init is None else Theta_init
        linear = kernel.kind == kernel_models.LINEAR
        fit = self._follow(x, t, start) if linear else None
        if fit is None:
            gram = self._gram_with(x, kernel)
            state_in = self._dual_state(start, x.size)
            fit = _fit(kernel, X_all, np.append(self.t, t), self.C, gram, self.name, state_in)
            f = fit.decision(kernel, self.decision_effect.Z)
        else:
            f = self.decision_effect.Z @ (fit.beta[:-1] @ self.X + fit.beta[-1] * x) + fit.b
        # a linear kernel's state carries the candidate row: where the next path starts
        Theta = np.concatenate([fit.beta, [fit.b], x])[None, :] if linear else fit.Theta
        E, dE = self.decision_effect(f)
        offset = x - self.x_c
        C = float(offset @ offset)
        a = self.alpha
        W = a * C + self._sign * (1 - a) * (E - self.E_ref)
        state = engine.Fit(Theta, None, None, X_all.shape[0])
        ev = KernelEvaluation(W, C, E, x, t, x, f, None, None, state, dE)
        ev.dual, ev.kernel, ev.gamma_slope = fit, kernel, slope
        return self.differentiate(ev) if with_gradient else ev

    def _dual_state(self, start: np.ndarray, d: int) -> np.ndarray:
        """The model state ``start`` as :func:`dual.fit` takes it, (β…, b) on the rows or
        (β…, β_p, b) with a candidate: a linear kernel's state (module docstring of
        :meth:`_follow`) without its x_p."""
        row = np.ravel(start)
        n = self.X.shape[0]
        return row[: n + 1] if row.size in (n + 1, n + 1 + d) else row[: n + 2]

    def _follow(self, x: np.ndarray, t: float, start: np.ndarray) -> DualFit | None:
        """The linear kernel's optimum with the candidate (x, t) followed from the state
        ``start`` (:func:`homotopy.follow`), or, when that path is longer than
        :data:`_SHORT` pieces (a far move), from the rows' own optimum, whose path
        length does not grow with the move. A linear kernel's state is
        (β…, β_p, b, x_p) with a candidate, (β…, b) on the rows alone, or (β…, b, x_p) —
        the state of the objective before the last candidate joined the rows
        (:meth:`with_point`), whose β already covers it. None: not the generic case,
        for :func:`dual.fit`."""
        n, d = self.X.shape
        row = np.ravel(start)
        if row.size in (n + 1, n + 1 + d):  # the rows' optimum: the candidate starts off
            beta_p, x_from, b = 0.0, x, float(row[n])
        elif row.size == n + 2 + d:
            beta_p, x_from, b = float(row[n]), row[n + 2 :], float(row[n + 1])
        else:
            return None
        if t * beta_p < 0.0 or abs(beta_p) > self.C:
            return None
        done = None
        reach = abs(beta_p) * float(np.linalg.norm(x - x_from)) * self._row_scale
        if beta_p != 0.0 and reach <= _FAR:
            beta = row[:n]
            codes = dual.set_codes(beta, self.C)
            done = homotopy.follow(
                self.X, self.t, self.C, beta, b, codes, t, beta_p, x_from, x, _SHORT
            )
        if done is None:  # far (or not generic): from the rows' own optimum
            row = np.ravel(self.Theta_start)
            beta = row[:n]
            codes = dual.set_codes(beta, self.C)
            done = homotopy.follow(
                self.X, self.t, self.C, beta, float(row[n]), codes, t, 0.0, x, x, _PATH_STEPS + n
            )
        if done is None:
            return None
        X_all = np.vstack([self.X, x[None]])
        margin = np.flatnonzero(done.codes == MARGIN)
        t_all = np.append(self.t, t)
        return DualFit(X_all, t_all, done.beta, done.b, margin, done.system, done.allowed)

    def differentiate(self, ev: Evaluation, *, with_y: bool = False) -> Evaluation:
        """``ev`` with ∇_{x_p} W (module docstring)."""
        assert isinstance(ev, KernelEvaluation) and ev.dE is not None
        weight = self._sign * (1 - self.alpha)
        if ev.dual.system is None and ev.dual.margin.size:  # a followed fit's, centred
            ev.dual = replace(ev.dual, system=homotopy.margin_system(ev.dual.X, ev.dual.margin))
        with one_blas_thread():
            gE = ev.dual.adjoint(ev.kernel, self.decision_effect.Z, ev.dE, ev.gamma_slope)
        grad = (2.0 * self.alpha) * (ev.x - self.x_c) + weight * gE
        out = KernelEvaluation(
            ev.W, ev.C, ev.E, ev.x, ev.t, ev.phi, ev.theta, grad, None, ev.fit, ev.dE
        )
        out.dual, out.kernel, out.gamma_slope = ev.dual, ev.kernel, ev.gamma_slope
        return out

    def inert(self, ev: Evaluation) -> bool:
        """Whether the row is off the margin (α = 0) with γ fixed: it does not move f."""
        assert isinstance(ev, KernelEvaluation)
        return bool(ev.dual.beta[-1] == 0.0 and ev.gamma_slope is None)

    def effect_at(self, Theta: np.ndarray) -> float:
        return self.decision_effect(self.decision(Theta))[0]

    def _extended(self, X: np.ndarray, t: np.ndarray, Theta) -> KernelObjective:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        kernel = self.kernel_for(X)[0]
        new.pairs = self.kernel.base(X, X)
        new.X, new.t, new.gram = X, t, kernel.apply(new.pairs)
        new._row_scale = _rms_norm(X)
        new.Theta_start = (
            _fit(kernel, X, t, self.C, new.gram, self.name).Theta
            if Theta is None
            else np.ravel(Theta)[: X.shape[0] + 1][None, :]  # (β…, b) on the rows X
        )
        return new

    def with_point(self, x: np.ndarray, t: float, Theta: np.ndarray) -> Objective:
        X = np.vstack([self.X, x[None]])
        return self._extended(X, np.append(self.t, t), Theta)

    def with_points(
        self, xs: list[np.ndarray], ts: list[float], Theta_init: np.ndarray
    ) -> Objective:
        X = np.vstack([self.X, np.asarray(xs, dtype=float).reshape(len(xs), -1)])
        return self._extended(X, np.append(self.t, ts), None)


__all__ = ["DecisionEffect", "KernelEvaluation", "KernelObjective"]
