"""A smooth loss on rows kept plus one candidate row: warm-started Newton with chord steps.

For losses without a constant curvature (logistic, softmax) the attack's question —
θ on one training set plus one candidate row — is answered by Newton's method from
the previous optimum, on the learner's own value, gradient and Hessian
(:meth:`~flexpoison.engine.learner.Learner.from_sums`) and the general solver's line
search (:func:`~flexpoison.engine.smooth.backtrack`).
"""

from __future__ import annotations

import numpy as np

from ..errors import SingularHessianError
from .data import Data, LossSums, RowData, row_sums
from .learner import Learner
from .linalg import CholeskyFactor, Fit, cholesky
from .smooth import _damped_cholesky, backtrack, start


class NewtonSolver:
    """A non-quadratic loss on rows kept plus one candidate row, warm-started Newton.

    Each evaluation starts at the warm start Θ₀ (usually the previous accepted optimum,
    whose rows' Hessian is cached) and iterates θ ← θ − H⁻¹ g(θ), keeping H from the
    last point where it was formed (a chord iteration): a step costs one gradient pass,
    O(n·p), instead of O(n·p²), and converges linearly at the rate ‖I − H_old⁻¹H‖ =
    O(distance moved since), far below 1 for the small moves of a poison point. H is
    formed afresh when a step does not shrink the previous one tenfold, and a step
    taken with a fresh H that is larger than 1e-3 relative is damped by an Armijo line
    search on L, as in :func:`~flexpoison.engine.fit.fit`.

    It stops after a chord step below 1e-10 relative to θ, or a Newton step below
    1e-8 (quadratic convergence), so θ is exact to ~1e-14. The
    returned :class:`Fit` has no factor: the exact Hessian at θ is formed only when a
    gradient is asked for (:meth:`factor`); its rows' share is cached, keyed by that
    θ, since the next evaluations warm-start there.
    """

    FAR = 1e-3
    TOL = 1e-10
    NEWTON_TOL = 1e-8

    def __init__(self, learner: Learner, data: RowData, max_iter: int = 100):
        self.learner, self.data, self.max_iter = learner, data, max_iter
        self.n = data.n + 1
        self._recent: list[tuple[np.ndarray, LossSums]] = []
        self._rows: RowData | None = None  # the rows plus a slot for the candidate

    @classmethod
    def for_data(cls, learner: Learner, data: Data) -> NewtonSolver | None:
        """A solver for a smooth non-quadratic loss on kept rows, else None."""
        if learner.loss.curvature is not None or learner.l1 > 0 or not isinstance(data, RowData):
            return None
        if hasattr(learner.loss, "pieces"):  # piecewise linear, no Hessian: engine.kinks
            return None
        return cls(learner, data)

    def _with_candidate(self, phi: np.ndarray, t: float) -> RowData:
        """The rows and (φ, t) in one array (made once; the last row is overwritten)."""
        if self._rows is None:  # a private copy: its last row is scratch
            rows = self.data
            self._rows = RowData(np.vstack([rows.Phi, phi[None]]), np.append(rows.t, t))
        else:
            self._rows.Phi[-1] = phi
            self._rows.t[-1] = t
        return self._rows

    def _full(
        self, Theta: np.ndarray, phi: np.ndarray, t: float, cached: bool = False
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """L, g and H on the rows plus (φ, t); with ``cached`` the rows' share is looked
        up among recent θ's (and kept)."""
        loss = self.learner.loss
        if not cached:
            sums = self._with_candidate(phi, t).sums(loss, Theta, True)
        else:
            base = next((sums for start, sums in self._recent if start is Theta), None)
            if base is None:
                base = self.data.sums(loss, Theta, True)
                self._recent = [(Theta, base)] + self._recent[:1]
            row = row_sums(loss, phi[None], np.array([t]), Theta, True)
            assert base.hess is not None and row.hess is not None
            sums = LossSums(base.value + row.value, base.grad + row.grad, base.hess + row.hess)
        L, g, H = self.learner.from_sums(sums, self.n, Theta)
        assert H is not None
        return L, g, H

    def _value_gradient(self, Theta: np.ndarray, want_value: bool) -> tuple[float, np.ndarray]:
        """L (NaN unless ``want_value``) and g over the rows and the candidate last
        written."""
        assert self._rows is not None
        sums = self._rows.sums(self.learner.loss, Theta, want_hess=False, want_value=want_value)
        L, g, _ = self.learner.from_sums(sums, self.n, Theta)
        return L, g

    def fit(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> Fit | None:
        """The optimum with (φ, t) added, or None if ``max_iter`` steps did not reach
        it or an iterate's Hessian was singular (the caller then runs the general
        solver, :func:`~flexpoison.engine.fit.fit`, which damps such steps)."""
        try:
            return self._fit(phi, t, Theta0)
        except SingularHessianError:
            return None

    def _fit(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> Fit | None:
        name = self.learner.name
        K, p = Theta0.shape
        Theta = Theta0
        self._with_candidate(phi, t)
        L, g, H = self._full(Theta, phi, t, cached=True)
        if not np.isfinite(L):  # outside the loss's domain (σ ≤ 0): start afresh
            Theta = start(self.learner, self._with_candidate(phi, t).t, p)
            L, g, H = self._full(Theta, phi, t)
        factor = _damped_cholesky(H, name)[0]
        fresh, previous = True, np.inf
        scale = 1.0 + np.abs(Theta).max()  # sizes are relative to θ (which moves little)
        for _ in range(self.max_iter):
            step = factor.solve(g).reshape(K, p)
            size = np.abs(step).max() / scale
            if (
                size <= self.TOL
                or (fresh and size <= self.NEWTON_TOL)
                or (not fresh and size >= previous and size <= self.NEWTON_TOL)
            ):
                # converged: a chord step this small leaves ~rate·size, a Newton step
                # O(size²); a chord step that stops shrinking there is rounding noise
                Theta = Theta - step
                break
            if not fresh and size > 0.1 * previous:  # the chord is slow: refresh H
                L, g, H = self._full(Theta, phi, t)
                factor, fresh, previous = _damped_cholesky(H, name)[0], True, np.inf
                continue
            damped, searched = False, None
            if fresh and size > self.FAR:
                decrease = float(g @ step.ravel())  # Newton decrement λ², ≥ 0
                Theta, length, searched = backtrack(
                    lambda candidate: self._value_gradient(candidate, True),
                    Theta,
                    step,
                    L,
                    decrease,
                )
                if length == 0.0:  # no progress in float64: the general solver's turn
                    return None
                damped = length < 1.0
            else:
                Theta = Theta - step
            if damped:  # far from the optimum: a Newton step from here
                L, g, H = self._full(Theta, phi, t)
                factor, fresh, previous = _damped_cholesky(H, name)[0], True, np.inf
            else:  # g at the new Θ: the line search's, or one pass
                g = (searched or self._value_gradient(Theta, False))[1]
                fresh, previous = False, size
        else:
            return None
        return Fit(Theta, None, None, self.n)

    def factor(self, fit_: Fit, phi: np.ndarray, t: float) -> CholeskyFactor:
        """The Cholesky factor of the exact H at ``fit_.Theta`` (rows' share cached)."""
        _, _, H = self._full(fit_.Theta, phi, t, cached=True)
        return cholesky(H, self.learner.name)


__all__ = ["NewtonSolver"]
