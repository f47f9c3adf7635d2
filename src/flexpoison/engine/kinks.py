"""A piecewise-linear loss (hinge, ε-insensitive) under a definite L2 penalty: its
exact optimum and its implicit gradient, on the rows held at the loss's kinks.

Per output k (the outputs of a :class:`~flexpoison.engine.hinge.PiecewiseLinearLoss`
are independent problems; θ below is one output's row) the learner minimises

    f(θ) = ½·θᵀΛθ + s·Σ_i h_i(φ_iᵀθ),   Λ = diag(λ) positive definite,

with h_i convex and linear between knots (:meth:`PiecewiseLinearLoss.pieces`). Every
coordinate must be penalised (λ > 0: liblinear penalises its intercept), so f is
strongly convex and θ unique.

θ is found by a primal active-set method (:func:`solve_output`) on the optimality
system of the rows held on knots, and differentiated by the implicit function theorem
at fixed pieces (:class:`KinkFactor`); the derivation, the degenerate knots and the
one-sided gradients are on the documentation's maths page ("Piecewise-linear losses").
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ..errors import ConvergenceError, SingularHessianError
from .data import Data, GramData, PlusRow, RowData
from .learner import Learner
from .linalg import Fit

# A row is on a knot in a warm start within this distance, relative to 1 + |κ|.
_NEAR = 1e-10
# A multiplier out of its interval by more than this share of the interval is released.
_SLACK = 1e-9
# A row whose score moves by less than this share of ‖φ‖·(‖θ‖ + ‖θ* − θ‖) does not
# move: that is rounding (a row in the span of M, e.g. a duplicate of one of its rows,
# moves with them exactly, and must not join M: S would be singular).
_STILL = 1e-11
# A row of M whose part independent of the others' is below this share of its norm
# depends on them (:func:`_release_dependent`), and a row that close to their span
# moves with them (:func:`_in_span`).
_DEPENDENT = 1e-9


def rows(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """(Φ, t) of a training set whose rows are kept (a candidate row last)."""
    if isinstance(data, RowData):
        return data.Phi, data.t
    if isinstance(data, PlusRow) and isinstance(data.base, RowData):
        return np.vstack([data.base.Phi, data.phi[None]]), np.append(data.base.t, data.t)
    assert not isinstance(data, GramData)
    raise TypeError("a piecewise-linear loss needs its training rows, not statistics")


class KinkFactor:
    """(KKT)'s matrix per output, solved through its Schur complement (module doc).

    ``solve(b)`` returns u_θ of K·(u_θ, u_β) = (b, 0) for each output block: H⁻¹b
    restricted to the directions that keep every row of M on its knot, which is what
    the implicit gradient's solve means here. :meth:`row_gradient` is the candidate
    row's gradient (module docstring)."""

    __slots__ = ("lam", "held", "factors", "beta", "last", "s")

    def __init__(
        self,
        lam: np.ndarray,
        held: list[np.ndarray],
        factors: list[tuple | None],
        beta: list[np.ndarray],
        last: list[tuple[int, float]],
        s: float,
    ):
        self.lam = lam  # (K, p)
        self.held = held  # per output: Φ_M (m, p)
        self.factors = factors  # per output: Cholesky factor of S, or None (M empty)
        self.beta = beta  # per output: the multipliers β_M
        self.last = last  # per output: (position of the last row in M or −1, its slope)
        self.s = s

    @property
    def pinned(self) -> bool:
        """Whether the rows on knots fix θ: M has as many rows as θ has coordinates in
        every output, so no row off a knot moves θ."""
        p = self.lam.shape[1]
        return all(A.shape[0] >= p for A in self.held)

    @property
    def inert(self) -> bool:
        """Whether the last row does not move θ locally: in every output it is off the
        knots, in a flat piece or with θ pinned there."""
        p = self.lam.shape[1]
        return all(
            position < 0 and (slope == 0.0 or A.shape[0] >= p)
            for (position, slope), A in zip(self.last, self.held)
        )

    def adjoint(self, b: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(u_θ, u_β) of K·(u_θ, u_β) = (b, 0), per output."""
        B = np.asarray(b, dtype=float).reshape(self.lam.shape)
        U = B / self.lam
        ub = []
        for k, (A, factor) in enumerate(zip(self.held, self.factors)):
            if factor is None:
                ub.append(np.zeros(0))
                continue
            u_beta = cho_solve(factor, A @ U[k])
            if A.shape[0] >= A.shape[1]:  # pinned: u_θ = 0 exactly, not rounding noise
                U[k] = 0.0
            else:
                U[k] -= (A.T @ u_beta) / self.lam[k]
            ub.append(u_beta)
        return U, ub

    def solve(self, b: np.ndarray) -> np.ndarray:
        return self.adjoint(b)[0].ravel()

    def row_gradient(
        self,
        learner: Learner,
        Theta: np.ndarray,
        phi: np.ndarray,
        t: float,
        n: int,
        d: int,
        dE: np.ndarray,
        with_target: bool,
    ) -> tuple[np.ndarray, float | None]:
        """(∇_{x_p} E, ∂E/∂t_p) of the last row for E with ∇_Θ E = ``dE`` (the
        :class:`~flexpoison.engine.linalg.Factor` protocol; the row's terms come from
        the slopes and multipliers held here, not from ``learner``, φ or t)."""
        U, ub = self.adjoint(dE.ravel())
        grad = np.zeros(d)
        grad_t = 0.0
        for k, (position, slope) in enumerate(self.last):
            if position < 0:
                grad -= (self.s * slope) * U[k, :d]
            else:
                grad -= self.beta[k][position] * U[k, :d] + ub[k][position] * Theta[k, :d]
                grad_t += float(ub[k][position])
        return grad, (grad_t if with_target else None)


def inert(learner: Learner, fit_: Fit, phi: np.ndarray, t: float) -> bool:
    """Whether the row (φ, t), the last of ``fit_``'s training set, does not move θ
    locally: a piecewise-linear loss's :attr:`KinkFactor.inert`, else ℓ' = ℓ'' = 0 at
    the row (a squared hinge beyond its margin, a squared ε-insensitive loss inside its
    tube), so that E's gradient in it is exactly zero whatever E."""
    if isinstance(fit_.factor, KinkFactor):
        return fit_.factor.inert
    z, t_arr = (fit_.Theta @ phi)[None], np.array([t])
    loss = learner.loss
    return not np.any(loss.d1(z, t_arr)) and not np.any(loss.d2(z, t_arr))


def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int | None = None) -> Fit:
    """The exact optimum of a piecewise-linear loss under Λ, warm-started at Θ₀, with
    the :class:`KinkFactor` the implicit gradient solves with."""
    Phi, t = rows(data)
    n = Phi.shape[0]
    K, p = Theta0.shape
    lam = learner.l2_weights(p - learner.fit_intercept).reshape(K, p)
    if not np.all(lam > 0):
        raise TypeError(
            f"{learner.name}: a piecewise-linear loss needs every coefficient penalised "
            "(an L2 penalty, and a penalised intercept)"
        )
    knots, slopes = learner.loss.pieces(t)  # type: ignore[attr-defined]
    s = learner.scale(n)
    limit = 20 * n + 100 if max_iter is None else max_iter
    Theta = np.empty((K, p))
    held, factors, betas, last = [], [], [], []
    for k in range(K):
        theta, M, beta, factor, codes = solve_output(
            Phi, knots[:, k], slopes[:, k], s, lam[k], Theta0[k], learner.name, limit
        )
        Theta[k] = theta
        held.append(Phi[M])
        factors.append(factor)
        betas.append(beta)
        position = np.flatnonzero(M == n - 1)
        slope = 0.0 if position.size else float(slopes[n - 1, k, codes[n - 1] // 2])
        last.append((int(position[0]) if position.size else -1, slope))
    return Fit(Theta, None, KinkFactor(lam, held, factors, betas, last, s), n)


def _initial_codes(z: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Each row's position: 2j in piece j, 2k + 1 on knot k (within :data:`_NEAR`)."""
    codes = 2 * np.sum(knots < z[:, None], axis=1)
    near = np.abs(knots - z[:, None]) <= _NEAR * (1.0 + np.abs(knots))
    on = near.any(axis=1)
    codes[on] = 2 * np.argmax(near[on], axis=1) + 1
    return codes


def solve_output(
    Phi: np.ndarray,
    knots: np.ndarray,
    slopes: np.ndarray,
    s: float,
    lam: np.ndarray,
    theta0: np.ndarray,
    name: str,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple | None, np.ndarray]:
    """One output's optimum by the active-set method of the module docstring: θ, the
    rows M on knots, their multipliers β, the Cholesky factor of S (None if M is
    empty) and every row's position code (2j: piece j; 2k + 1: knot k)."""
    n = Phi.shape[0]
    index = np.arange(n)
    theta = np.array(theta0, dtype=float)
    codes = _initial_codes(Phi @ theta, knots)
    if np.count_nonzero(codes % 2) > Phi.shape[1]:  # too many to be independent
        codes = 2 * np.sum(knots < (Phi @ theta)[:, None], axis=1)
    norms = np.linalg.norm(Phi, axis=1)
    restarted = False
    for _ in range(max_iter):
        on = codes % 2 == 1
        M = np.flatnonzero(on)
        where = codes // 2  # piece j, or knot k
        if M.size and _release_dependent(Phi, knots, slopes, s, lam, theta, M, where, codes):
            continue
        sigma = slopes[index, np.minimum(where, slopes.shape[1] - 1)]
        sigma[on] = 0.0
        target = -s * (Phi.T @ sigma) / lam
        beta = np.zeros(0)
        factor = None
        span = np.zeros(n, dtype=bool)
        if M.size:
            A = Phi[M]
            AL = A / lam
            try:
                factor = cho_factor(AL @ A.T, lower=True)
            except LinAlgError:
                if not restarted:  # a warm start's rows near knots: start without them
                    codes[on] = 2 * np.sum(knots[on] < (Phi[on] @ theta)[:, None], axis=1)
                    restarted = True
                    continue
                raise SingularHessianError(
                    f"{name}: the rows held on the loss's kinks are too close to linearly "
                    "dependent to solve for; standardise the features"
                ) from None
            beta = cho_solve(factor, A @ target - knots[M, where[M]])
            target = target - AL.T @ beta
            span = _in_span(Phi, A, norms)
        step = target - theta
        moved = _line_search(Phi, knots, slopes, s, lam, theta, step, codes, norms, span)
        if moved is not None:
            theta = moved
            continue
        theta = target
        if M.size:
            g = beta / s
            low, high = slopes[M, where[M]], slopes[M, where[M] + 1]
            violation = np.maximum(low - g, g - high) / (high - low)
            worst = int(np.argmax(violation))
            if violation[worst] > _SLACK:
                k = where[M[worst]]
                codes[M[worst]] = 2 * k if g[worst] < low[worst] else 2 * (k + 1)
                continue
        return theta, M, beta, factor, codes
    raise ConvergenceError(
        f"{name}: the active-set solver of the piecewise-linear loss did not finish in "
        f"{max_iter} steps; standardise the features"
    )


def _in_span(Phi: np.ndarray, A: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Which rows φ_i lie in the span of the rows of A (independent): ‖φ_i − QQᵀφ_i‖ ≤
    :data:`_DEPENDENT`·‖φ_i‖, Q an orthonormal basis of A's rows. Their scores move with
    A's rows, which stay on their knots: they stay where they are."""
    Q = np.linalg.qr(A.T)[0]
    rest = Phi - (Phi @ Q) @ Q.T
    return np.linalg.norm(rest, axis=1) <= _DEPENDENT * norms


def _release_dependent(Phi, knots, slopes, s, lam, theta, M, where, codes) -> bool:
    """Rows of M that depend on the others (duplicated rows, or more rows on knots than θ
    has independent directions, as on integer-valued data) leave M for the piece on the
    side of their least-norm multiplier (nearer the left slope: left). Their score is
    fixed by the rows kept, and the multipliers of those absorb theirs, so the optimum
    is the same. Returns whether any row left (``codes`` updated)."""
    from .margin import independent_rows

    A = Phi[M] / np.sqrt(lam)  # S = A·Aᵀ: the same rank as Φ_M
    kept = independent_rows(A, np.arange(M.size), _DEPENDENT)
    if kept.size == M.size:
        return False
    sigma = slopes[np.arange(Phi.shape[0]), np.minimum(where, slopes.shape[1] - 1)]
    sigma[M] = 0.0
    target = -s * (Phi.T @ sigma) / lam
    rhs = Phi[M] @ target - knots[M, where[M]]
    beta = np.linalg.lstsq(A @ A.T, rhs, rcond=None)[0]
    out = np.setdiff1d(np.arange(M.size), kept)
    rows = M[out]
    k = where[rows]
    middle = 0.5 * (slopes[rows, k] + slopes[rows, k + 1])
    codes[rows] = np.where(beta[out] / s < middle, 2 * k, 2 * (k + 1))
    return True


def _line_search(
    Phi: np.ndarray,
    knots: np.ndarray,
    slopes: np.ndarray,
    s: float,
    lam: np.ndarray,
    theta: np.ndarray,
    step: np.ndarray,
    codes: np.ndarray,
    norms: np.ndarray,
    span: np.ndarray,
) -> np.ndarray | None:
    """The minimum of f on the segment θ + τ·step, τ ∈ [0, 1], updating ``codes`` in
    place; None when no row crosses a knot on it (θ* = θ + step is reached, codes
    unchanged). f'(τ) = (τ − 1)·a + Σ jumps of the crossings before τ, a = stepᵀΛstep.
    Rows in the span of M's (``span``) move with them: they cross nothing."""
    a = float(step @ (lam * step))
    if not a > 0.0:
        return None
    z = Phi @ theta
    delta = Phi @ step
    piece = codes // 2
    scale = np.sqrt(theta @ theta) + np.sqrt(step @ step)
    moving = (codes % 2 == 0) & ~span & (np.abs(delta) > _STILL * norms * scale)
    rows_, knot_, tau_, jump_ = [], [], [], []
    for k in range(knots.shape[1]):
        ahead = moving & np.where(delta > 0, k >= piece, k < piece)
        ids = np.flatnonzero(ahead)
        if not ids.size:
            continue
        tau = np.maximum((knots[ids, k] - z[ids]) / delta[ids], 0.0)
        keep = tau <= 1.0
        ids, tau = ids[keep], tau[keep]
        rows_.append(ids)
        knot_.append(np.full(ids.size, k))
        tau_.append(tau)
        jump_.append(s * (slopes[ids, k + 1] - slopes[ids, k]) * np.abs(delta[ids]))
    if not rows_:
        return None
    rows_a, knot_a = np.concatenate(rows_), np.concatenate(knot_)
    tau_a, jump_a = np.concatenate(tau_), np.concatenate(jump_)
    if not rows_a.size:
        return None
    order = np.argsort(tau_a, kind="stable")
    rows_a, knot_a, tau_a, jump_a = rows_a[order], knot_a[order], tau_a[order], jump_a[order]
    after = np.cumsum(jump_a)
    before = after - jump_a
    stops = (tau_a - 1.0) * a + after >= 0.0
    if stops.any():
        i = int(np.argmax(stops))
        if (tau_a[i] - 1.0) * a + before[i] >= 0.0:  # the minimum lies before crossing i
            tau_star, joins = 1.0 - before[i] / a, None
        else:
            tau_star, joins = float(tau_a[i]), i
        crossed = i
    else:
        tau_star, joins, crossed = 1.0 - after[-1] / a, None, rows_a.size
    count = np.bincount(rows_a[:crossed], minlength=codes.size)
    moved = count > 0
    codes[moved] = 2 * (piece[moved] + np.where(delta[moved] > 0, count[moved], -count[moved]))
    if joins is not None:
        codes[rows_a[joins]] = 2 * knot_a[joins] + 1
    return theta + tau_star * step


__all__ = ["KinkFactor", "inert", "fit", "rows", "solve_output"]
