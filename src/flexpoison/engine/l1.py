"""The L1-penalised quadratic, solved exactly, also on collinear features.

    minimise f(θ) = ½θᵀAθ − cᵀθ + Σ_j λ_j|θ_j|,   A = ∇²L_smooth ⪰ 0,

the model of a squared-residual learner with an L1 penalty: :func:`solve` runs
feature-sign search (Lee, Battle, Raina & Ng, 2007) from a warm start. On a support
S with signs σ, the optimum of the sign-fixed problem solves A_SS θ_S = c_S − λ_S σ_S;
θ is the optimum when it keeps the signs and every coordinate off S meets
|c_j − A_jS θ_S| ≤ λ_j.

Collinear features
------------------
Real designs are rank deficient as a rule: one-hot levels sum to the intercept's
column, a level absent from the rows is a zero column, columns duplicate each other.
Then A_SS can be singular, and the minimiser is not unique — but the fitted values
are: along a null direction v of A_SS (X_S v = 0) the fit does not move, and at an
optimum the penalty Σλ_j|θ_j| is flat along v (its slope λ_Sᵀ(σ_S ∘ v) must vanish,
or a step along ±v would lower f). So:

* a zero column has A_jj = c_j = 0, and θ_j = 0 is the unique penalised choice;
* the sign-fixed problem on a singular A_SS is solved in the minimum-norm sense when
  c_S − λ_S σ_S lies in A_SS's range, and otherwise f falls without bound along the
  null-space part v of that vector until a coefficient reaches zero: the step then
  goes there (:func:`_solve_on`);
* every optimum is reduced to a **basic** one (:func:`_basic`): moving along a null
  direction v to where the first coefficient reaches zero leaves f unchanged and drops
  that coefficient, until A_SS is definite. θ is that basic solution (the analogue of
  a vertex), whose derivative in the data is the implicit one on S; where
  a row's change would make another basic solution the optimum, the derivative is the
  one-sided one of the solution followed. scikit-learn's coordinate descent may return
  another optimum with the same fitted values on the training rows.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs, dtrtrs

from ..errors import ConvergenceError, SingularHessianError
from .linalg import CholeskyFactor, Fit, cholesky

# Most KKT violators that join the support in one step (measured on 443 solves of the
# house data's L1 model: 4, 8, 16 and all take 10.7, 10.7, 11.9 and 13.1 solves each)
_JOIN = 8
# An eigenvalue of A_SS at most this share of its largest is a null direction.
_NULL = 1e-10


def solve(
    A: np.ndarray, c: np.ndarray, lam: np.ndarray, theta0: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """argmin ½θᵀAθ − cᵀθ + Σ_j lam_j|θ_j| from ``theta0`` (module docstring): the basic
    optimum θ and its active mask (the nonzero coefficients and the unpenalised ones,
    on which A is definite). ``name`` (the learner's) heads the errors."""
    theta, active, _ = solve_factored(A, c, lam, theta0, name)
    return theta, active


def fit(
    H: np.ndarray, c: np.ndarray, lam: np.ndarray, Theta0: np.ndarray, name: str, n: int
) -> Fit:
    """The optimum from ``Theta0`` (K × p) as a :class:`Fit` on n rows: θ, its active
    mask and the factor of H on it (the search's own, else made here; None when no
    coordinate is free: every coefficient is 0 and stays 0 locally)."""
    theta, active, factor = solve_factored(H, c, lam, Theta0.ravel(), name)
    idx = np.flatnonzero(active)
    if not idx.size:
        factor = None
    elif factor is None:  # (the search's passed a stricter test than cholesky's)
        factor = cholesky(H[np.ix_(idx, idx)], name, idx)
    return Fit(theta.reshape(Theta0.shape), active, factor, n)


def solve_factored(
    A: np.ndarray, c: np.ndarray, lam: np.ndarray, theta0: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray, CholeskyFactor | None]:
    """:func:`solve`, with the Cholesky factor of A on the active set when the search
    ends with one (else None).

    Feature-sign search: from a basic θ with support S and signs σ, θ* solves the
    sign-fixed problem on S. If θ* keeps the signs and every coordinate off S meets
    KKT, |(c − Aθ*)_j| ≤ lam_j (with a rounding allowance), θ* is the optimum. If it
    keeps the signs otherwise, the violators V join S, each signed as (c − Aθ*)_j:
    the most violating ones on which A stays clearly definite (:func:`_joinable`, at
    least the worst one, at most :data:`_JOIN`), and θ* is solved again there. θ then
    moves to θ* if it keeps the signs; else to θ* with every coefficient that changed
    sign set to 0, if f is lower there (an active-set step that drops several at
    once); else to the point of lowest f among θ* and the points of the segment
    [θ, θ*] where a coefficient reaches zero. f falls at every step: on the segment
    f = q_σ (the sign-fixed quadratic) up to the first zero, q_σ is convex with its
    minimum at θ*, and its slope at θ into each j ∈ V is λ_j − |(c − Aθ)_j| < 0 —
    when θ* keeps V's signs, as it does for a single entrant (entrants are cut before
    the first that comes out against its sign, keeping at least one: the factor of
    a prefix of V is the leading block of the bordered one). So no point recurs, and
    the search ends.

    A's factor on the support is carried from step to step (:class:`_Support`):
    entrants border it, leavers cut it from their first position on, so a step costs
    O(s²) more often than O(s³)."""
    theta = theta0.copy()
    diag = np.diag(A)
    if np.any((diag <= 0) & (lam == 0)):
        raise SingularHessianError(
            f"{name}: an unpenalised coordinate has zero variance in the training rows, "
            "so its value is not determined"
        )
    theta[(diag <= 0) & (lam > 0)] = 0.0
    free, pen = lam == 0, lam > 0
    bound = lam * (1 + 1e-9) + 1e-14
    theta, held = _basic(A, lam, theta)
    solved = False  # whether θ is the sign-fixed optimum on ``held``
    for _ in range(20 * theta.size + 100):
        sign = np.sign(theta)
        if held is None:
            held = _Support.of(A, np.flatnonzero((theta != 0) | free))
        if solved:
            target = theta
        else:
            target, held = held.solve(A, c, lam, sign, theta, name)
        joined: np.ndarray = np.zeros(0, dtype=np.intp)
        base = held
        if solved or not np.any(held.penalised(pen, np.sign(target) != sign)):
            residual = c - A @ target
            violation = np.abs(residual) - bound
            violation[held.idx] = -np.inf
            entering = np.flatnonzero(violation > 0)
            if not entering.size:
                if held.L is not None:
                    return target, held.mask(theta.size), CholeskyFactor(held.L, held.idx)
                polished = _polish(A, c, lam, _basic(A, lam, target)[0])
                if polished is not None:
                    return polished, (polished != 0) | free, None
                theta, held = _basic(A, lam, target)
                solved = False
                continue
            order = entering[np.argsort(-violation[entering], kind="stable")][:_JOIN]
            theta = target
            joined, held = base.join(A, diag, order)
            sign = np.sign(theta)
            sign[joined] = np.sign(residual[joined])
            target, held = held.solve(A, c, lam, sign, theta, name)
            while joined.size > 1:  # an entrant against its sign: cut before it
                wrong = np.flatnonzero(np.sign(target[joined]) != sign[joined])
                if not wrong.size:
                    break
                k = max(int(wrong[0]), 1)
                sign[joined[k:]] = 0.0
                joined = joined[:k]
                held = held.truncate(base.idx.size + k)
                target, held = held.solve(A, c, lam, sign, theta, name)
        flips = held.penalised(pen, np.sign(target) != sign)
        moved = _dropped(A, c, lam, held, theta, target, flips) if flips.any() else target
        solved = moved is target
        if moved is None:
            moved, solved = _best_on_segment(A, c, lam, held, theta, target, flips)
        theta = moved
        if held.L is None:  # the step's support block was singular: back to a basic point
            theta, held = _basic(A, lam, theta)
            solved = False
            continue
        held = held.keep(A, diag, (theta[held.idx] != 0) | free[held.idx])
        solved = solved and held is not None and bool(np.all((np.sign(theta) == sign) | free))
    raise ConvergenceError(
        f"{name}: the L1 solver made no progress (its objective is too badly "
        "conditioned in float64); standardise the features"
    )


def objective(A: np.ndarray, c: np.ndarray, lam: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """f(θ) = ½θᵀAθ − cᵀθ + Σ lam_j|θ_j| for each row θ of ``thetas``."""
    return ((0.5 * thetas @ A - c) * thetas).sum(axis=1) + np.abs(thetas) @ lam


class _Support:
    """A support S (coordinates in the order of the factor) and A_SS = LLᵀ, L lower
    (None: A_SS is not clearly definite, :func:`_definite`), zero above its
    diagonal."""

    __slots__ = ("idx", "L")

    def __init__(self, idx: np.ndarray, L: np.ndarray | None):
        self.idx, self.L = idx, L

    @classmethod
    def of(cls, A: np.ndarray, idx: np.ndarray) -> _Support:
        return cls(idx, _definite(A.take(idx, 0).take(idx, 1)) if idx.size else np.zeros((0, 0)))

    def mask(self, p: int) -> np.ndarray:
        out = np.zeros(p, dtype=bool)
        out[self.idx] = True
        return out

    def penalised(self, pen: np.ndarray, which: np.ndarray) -> np.ndarray:
        """``which`` on the penalised coordinates (``pen``) of S, False elsewhere."""
        out = np.zeros(which.shape, dtype=bool)
        out[self.idx] = which[self.idx] & pen[self.idx]
        return out

    def solve(self, A, c, lam, sign, theta, name) -> tuple[np.ndarray, _Support]:
        """The sign-fixed step target on S (:func:`_solve_on`), and S with its factor
        (made where it was not)."""
        if self.L is not None:
            out = np.zeros_like(c)
            idx = self.idx
            if idx.size:
                out[idx] = dpotrs(self.L, c[idx] - lam[idx] * sign[idx], lower=1)[0]
            return out, self
        target, L = _solve_on(A, c, lam, self.idx, sign, theta, name)
        return target, _Support(self.idx, L)

    def join(
        self, A: np.ndarray, diag: np.ndarray, order: np.ndarray
    ) -> tuple[np.ndarray, _Support]:
        """The violators that join S (:func:`_joinable`) and the support with them
        last, its factor bordered: [[L, 0], [Wᵀ, L_V]] with W = L⁻¹A_SV and L_V the
        factor of the Schur complement A_VV − WᵀW."""
        joined, W, border = _joinable(A, diag, self.idx, self.L, order)
        idx = np.concatenate((self.idx, joined))
        if border is None:
            return joined, _Support(idx, None)
        s, k = self.idx.size, joined.size
        L = np.zeros((s + k, s + k))
        if s:
            L[:s, :s] = self.L
            L[s:, :s] = W[:, :k].T
        L[s:, s:] = border[:k, :k]
        return joined, _Support(idx, L)

    def forms(self, A, c, theta, delta) -> tuple[float, float]:
        """δᵀ(Aθ − c) and δᵀAδ for θ and δ supported on S: with A_SS = LLᵀ and
        u = Lᵀθ_S, v = Lᵀδ_S they are vᵀu − δ_Sᵀc_S and vᵀv, products of size s."""
        if self.L is None:
            return float(delta @ (A @ theta - c)), float(delta @ (A @ delta))
        d = delta[self.idx]
        v = d @ self.L
        return float(v @ (theta[self.idx] @ self.L) - d @ c[self.idx]), float(v @ v)

    def truncate(self, n: int) -> _Support:
        """The first n coordinates of S, whose factor is the leading block of L."""
        return _Support(self.idx[:n], None if self.L is None else self.L[:n, :n])

    def keep(self, A: np.ndarray, diag: np.ndarray, kept: np.ndarray) -> _Support | None:
        """S without the coordinates where ``kept`` (over S) is False, its factor cut
        at the first of them: with S = (P, T) split there and L = [[L_P, 0], [L_TP,
        L_T]], the factor of the rest is [[L_P, 0], [L_T'P, chol(A_T'T' −
        L_T'P L_T'Pᵀ)]] (T' the kept part of T). None when that is not clearly
        definite (rounding)."""
        if kept.all():
            return self
        assert self.L is not None
        k = int(np.argmin(kept))
        rest = k + np.flatnonzero(kept[k:])
        idx = self.idx[np.concatenate((np.arange(k), rest))]
        tail = self.idx[rest]
        M = A.take(tail, 0).take(tail, 1)
        if k:
            B = self.L[rest, :k]
            M = M - B @ B.T
        L_T, info = dpotrf(M, lower=1, clean=1) if rest.size else (M, 0)
        if info != 0:
            return None
        pivots = np.diag(L_T)
        top = float(np.max(diag[idx], initial=0.0))
        if rest.size and pivots.min() ** 2 <= _NULL * top:
            return None
        L = np.zeros((idx.size, idx.size))
        L[:k, :k] = self.L[:k, :k]
        if rest.size:
            L[k:, :k] = self.L[rest, :k]
            L[k:, k:] = L_T
        return _Support(idx, L)


def _dropped(A, c, lam, held, theta, target, flips):
    """θ* with every coefficient that changed sign set to 0, when f is lower there than
    at θ (an active-set step that may drop many at once), else None."""
    dropped = np.where(flips, 0.0, target)
    return dropped if _change(held, A, c, lam, theta, dropped) < 0.0 else None


def _change(held, A, c, lam, theta, point) -> float:
    """f(θ') − f(θ) = δᵀ(Aθ − c) + ½δᵀAδ + Σ_j lam_j(|θ'_j| − |θ_j|), δ = θ' − θ, for
    θ and θ' supported on S (:meth:`_Support.forms`)."""
    S = held.idx
    slope, curve = held.forms(A, c, theta, point - theta)
    return slope + 0.5 * curve + float(lam[S] @ (np.abs(point[S]) - np.abs(theta[S])))


def _joinable(
    A: np.ndarray, diag: np.ndarray, S: np.ndarray, factor: np.ndarray | None, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The KKT violators that join the support S together, W and the Schur factor
    (None where A_SS is not clearly definite): the longest prefix of ``order`` (most
    violating first) on which A stays clearly definite, at least its first entry.
    With A_SS = LLᵀ (``factor``), the factor of A on S ∪ V is bordered by
    W = L⁻¹A_SV and the factor of the Schur complement A_VV − WᵀW, whose pivots are
    those of V's columns: the prefix ends before the first pivot² at most
    :data:`_NULL` times the largest diagonal entry (a column in the span of the
    others', to rounding), the test of :func:`_definite`."""
    W = np.zeros((0, order.size))
    if factor is None:
        return order[:1], W, None
    rows = A.take(order, 0)  # A_V·, so that A_SV = A_VSᵀ is gathered from k rows, not s
    schur = rows.take(order, 1)
    if S.size:
        W = dtrtrs(factor, rows.take(S, 1).T, lower=1)[0]
        schur = schur - W.T @ W
    border, info = dpotrf(schur, lower=1, clean=1)
    k = order.size if info == 0 else info - 1
    top = max(float(diag[S].max(initial=0.0)), float(diag[order].max()))
    pivots = np.diag(border)[:k]
    small = np.flatnonzero(pivots * pivots <= _NULL * top)
    if small.size:
        k = int(small[0])
    if k == 0:
        return order[:1], W, None
    return order[:k], W, border


def _solve_on(
    A: np.ndarray,
    c: np.ndarray,
    lam: np.ndarray,
    S: np.ndarray,
    sign: np.ndarray,
    theta: np.ndarray,
    name: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The sign-fixed problem's step target on the support S (indices), 0 elsewhere,
    and A_SS's lower Cholesky factor when it is (clearly) definite, else None: the
    solution of A_SS θ_S = b_S = c_S − lam_S σ_S, minimum-norm where A_SS is singular
    and b_S in its range; where b_S has a part v outside the range, f falls along v
    without bound, and the target is θ + τv with τ past the first coefficient that v
    drives to zero (the segment's search stops there)."""
    out = np.zeros_like(c)
    if not S.size:
        return out, np.zeros((0, 0))
    b = c[S] - lam[S] * sign[S]
    block = A.take(S, 0).take(S, 1)
    factor = _definite(block)
    if factor is not None:
        out[S] = dpotrs(factor, b, lower=1)[0]
        return out, factor
    values, vectors = np.linalg.eigh(block)
    top = max(float(values[-1]), 0.0)
    keep = values > _NULL * top
    if top == 0.0 or not np.all(np.isfinite(values)):
        raise SingularHessianError(
            f"{name}: the model is not unique: the features in its support carry no "
            "variance; remove them"
        )
    coords = vectors.T @ b
    out[S] = vectors[:, keep] @ (coords[keep] / values[keep])
    v = vectors[:, ~keep] @ coords[~keep]
    if not np.any(~keep) or np.linalg.norm(v) <= 1e-12 * (np.linalg.norm(b) + 1e-300):
        return out, None
    # b_S outside the range: f = const − τ‖v‖² along θ + τv; go past the first zero
    current = theta[S]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(current * v < 0, -current / v, np.inf)
    crossing[lam[S] == 0] = np.inf
    tau = float(np.min(crossing))
    if not np.isfinite(tau):  # nothing stops it: f is unbounded below
        raise SingularHessianError(
            f"{name}: the training objective is unbounded below on collinear "
            "unpenalised coordinates; remove redundant features"
        )
    out = theta.copy()
    out[S] = current + 2.0 * tau * v
    keep_out = np.zeros(theta.shape, dtype=bool)
    keep_out[S] = True
    out[~keep_out] = 0.0
    return out, None


def _best_on_segment(
    A: np.ndarray,
    c: np.ndarray,
    lam: np.ndarray,
    held: _Support,
    theta: np.ndarray,
    target: np.ndarray,
    flips: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """The point of lowest f on the segment [θ, θ*] among θ* itself and the points
    where coefficients in ``flips`` reach zero (set exactly to zero there), and
    whether it is θ*; at such a point, those that crossed zero before it are set to
    0 too where that lowers f further (fewer steps: 9.5 instead of 10.7 per solve on
    the house data's L1 model). With δ = θ* − θ,

        f(θ + tδ) − f(θ) = t·δᵀ(Aθ − c) + ½t²·δᵀAδ + Σ_j lam_j(|θ_j + tδ_j| − |θ_j|),

    the two forms for all the points (:meth:`_Support.forms`)."""
    delta = target - theta
    moving = np.flatnonzero(flips & (delta != 0))
    crossing = -theta[moving] / delta[moving]
    inside = (crossing > 0) & (crossing < 1)
    if not inside.any():
        return target, True
    ts = np.append(np.sort(crossing[inside]), 1.0)
    slope, curve = held.forms(A, c, theta, delta)
    S = held.idx
    path = np.abs(theta[S] + ts[:, None] * delta[S]) - np.abs(theta[S])
    values = ts * slope + 0.5 * ts * ts * curve + path @ lam[S]
    best = int(np.argmin(values))
    if best == ts.size - 1:
        return target, True
    t = ts[best]
    point = theta + t * delta
    point[moving[crossing == t]] = 0.0
    crossed = moving[(crossing <= t) & (crossing > 0)]
    if crossed.size > 1:  # those that crossed before t also set to 0, if f is lower
        alt = point.copy()
        alt[crossed] = 0.0
        change = _change(held, A, c, lam, theta, alt)
        if change < values[best]:
            return alt, False
    return point, False


def _basic(A: np.ndarray, lam: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, _Support | None]:
    """θ moved along null directions of A on its support, each to where its first
    penalised coefficient reaches zero (f unchanged at an optimum, module docstring),
    until A is definite on the support; with that support and its factor (None where
    A is still singular there: only unpenalised coordinates move)."""
    theta = theta.copy()
    for _ in range(theta.size):
        S = np.flatnonzero((theta != 0) | (lam == 0))
        if not S.size:
            return theta, _Support(S, np.zeros((0, 0)))
        # the factor's order: the coefficients likeliest to leave (the smallest) last,
        # where cutting them from the factor costs least (_Support.keep)
        S = S[np.argsort(-np.where(lam[S] == 0, np.inf, np.abs(theta[S])), kind="stable")]
        block = A.take(S, 0).take(S, 1)
        factor = _definite(block)
        if factor is not None:
            return theta, _Support(S, factor)
        values, vectors = np.linalg.eigh(block)
        if values[0] > _NULL * max(float(values[-1]), 0.0) and values[-1] > 0:
            return theta, None
        v = vectors[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = np.where((np.abs(v) > 1e-12) & (lam[S] > 0), -theta[S] / v, np.inf)
        j = int(np.argmin(np.abs(steps)))
        if not np.isfinite(steps[j]):
            return theta, None  # only unpenalised coordinates move: left to the polish
        theta[S] = theta[S] + steps[j] * v
        theta[S[j]] = 0.0
    return theta, None


def _definite(block: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a block of A when it is clearly definite (every
    pivot² above :data:`_NULL` times the largest diagonal entry), else None (then
    an eigendecomposition decides, ~50× slower)."""
    factor, info = dpotrf(block, lower=1, clean=1)
    if info != 0:
        return None
    pivots = np.diag(factor)
    if pivots.min() ** 2 <= _NULL * float(np.max(np.diag(block))):
        return None
    return factor


def _polish(A, c, lam, theta) -> np.ndarray | None:
    """The exact solution on θ's (basic) support with θ's signs, if it is the optimum
    (signs kept, KKT met off the support, with a rounding allowance), else None."""
    active = (theta != 0) | (lam == 0)
    if not np.any(active):
        return None if np.any(np.abs(c) > lam) else np.zeros_like(theta)
    sign = np.sign(theta)
    try:
        sol = np.linalg.solve(A[np.ix_(active, active)], c[active] - lam[active] * sign[active])
    except np.linalg.LinAlgError:
        return None
    penalised = lam[active] > 0
    if np.any(np.sign(sol[penalised]) != sign[active][penalised]):
        return None
    out = np.zeros_like(theta)
    out[active] = sol
    inactive = ~active
    residual = np.abs(c[inactive] - A[np.ix_(inactive, active)] @ sol)
    if np.any(residual > lam[inactive] * (1 + 1e-9) + 1e-14):
        return None
    return out


__all__ = ["fit", "solve", "solve_factored", "objective"]
