"""Kernel support vector machines: the exact dual fit and its implicit gradient.

A binary soft-margin support vector classifier with kernel k has the decision function
f(x) = Σ_j β_j k(x, x_j) + b, β_j = α_j·ỹ_j, where the dual variables 0 ≤ α_j ≤ C solve
libsvm's QP. At its optimum the rows split into three sets: rows off the margin (α = 0),
bound support vectors (α = C, β = Cỹ) and margin support vectors S (0 < α < C), on which
the KKT conditions are equalities,

    Σ_j β_j k(x_i, x_j) + b = ỹ_i   (i ∈ S),      Σ_j β_j = 0,

a linear system M·(β_S, b) = r with M = [[K_SS, 1], [1ᵀ, 0]]. :func:`fit` starts from
libsvm (through scikit-learn) or from a previous optimum and finishes with an exact
active-set method on the dual (:mod:`flexpoison.engine.active_set`) whose last step
solves this system, so that every row meets its set's condition to rounding; libsvm's
own answer is off where its single-precision kernel cache or its iteration limit bites
(a large C, large kernel values).

Differentiating the system in the poison row while the sets hold (Biggio, Nelson and
Laskov, ICML 2012) gives the implicit gradient; its formula, and what is done where the
sets change, are on the documentation's maths page ("The kernel classifier's dual").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._threads import one_blas_thread
from ..errors import ConvergenceError
from .active_set import BOUND, MARGIN, OFF, Finished, finish
from .margin import MarginSystem

_SET_TOL = 1e-8  # α within this share of the largest α from 0 (or of C from C) is at it
_TOL = 1e-12  # libsvm's tolerance on the margins (units of f)
_LOOSEST = 1e-3  # … at most, when its rounding makes 1e-12 unreachable
_ITER_PER_ROW, _MIN_ITER = 100, 100_000  # libsvm's iterations: max(1e5, 100·N)
_STEPS_PER_ROW, _EXTRA_STEPS = 10, 1000  # active-set steps: 10·N + 1000
_KKT_TOL = 1e-9  # a row may miss its set's condition by this (units of f) …
_WORST = 1e-4  # … or 100 × f's rounding; a fit whose allowance exceeds this is refused
_EPS = float(np.finfo(float).eps)
_CANCELLING = 0.1  # squared distances below this share of ‖a‖² + ‖b‖² are summed directly
_PAIRS_PER_CHUNK = 65_536  # … in chunks of this many pairs


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """‖a_i − b_j‖² (≥ 0), on rows centred at A's mean.

    The expansion ‖a‖² + ‖b‖² − 2a·b costs one matrix product but carries an absolute
    error of about ε(‖a‖² + ‖b‖²): where the distance is much smaller than that scale
    (near or duplicate rows far from the centre) it keeps few correct digits, and an
    RBF kernel with a large C turned 5e-10 of error in k into 5e-5 in f. The entries with
    ‖a − b‖² < :data:`_CANCELLING`·(‖a‖² + ‖b‖²) are therefore summed from a − b
    directly (0 exactly for duplicate rows); the rest keep a relative error ≤ 4ε/0.1."""
    centre = A.mean(axis=0) if A.shape[0] else 0.0
    A, B = A - centre, B - centre
    na, nb = np.einsum("ij,ij->i", A, A)[:, None], np.einsum("ij,ij->i", B, B)[None, :]
    sq = A @ B.T
    sq *= -2.0
    sq += na
    sq += nb
    rows, cols = np.nonzero(sq < _CANCELLING * (na + nb))
    for start in range(0, rows.size, _PAIRS_PER_CHUNK):
        i, j = rows[start : start + _PAIRS_PER_CHUNK], cols[start : start + _PAIRS_PER_CHUNK]
        diff = A[i] - B[j]
        sq[i, j] = np.einsum("ij,ij->i", diff, diff)
    return np.maximum(sq, 0.0)


@dataclass(frozen=True)
class Kernel:
    """k(a, b): kind linear: a·b; rbf: exp(−γ‖a − b‖²); poly: (γa·b + r)^p."""

    kind: str
    gamma: float = 1.0
    degree: int = 3
    coef0: float = 0.0

    def matrix(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """k(a_i, b_j), shape (len(A), len(B))."""
        return self.apply(self.base(A, B))

    def base(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """What k reads of each pair, free of γ: ‖a − b‖² (rbf) or a·b."""
        if self.kind == "rbf":
            return squared_distances(A, B)
        return A @ B.T

    def apply(self, base: np.ndarray) -> np.ndarray:
        """k from :meth:`base`'s values."""
        if self.kind == "rbf":
            return np.exp(-self.gamma * base)
        if self.kind == "poly":
            return (self.gamma * base + self.coef0) ** self.degree
        return base

    def gradient(self, A: np.ndarray, x: np.ndarray) -> np.ndarray:
        """∇_x k(a_i, x) for every row a_i of A, shape (len(A), d)."""
        if self.kind == "rbf":
            k = self.matrix(A, x[None])[:, 0]
            return (2.0 * self.gamma) * (A - x) * k[:, None]
        if self.kind == "poly":
            u = self.gamma * (A @ x) + self.coef0
            return (self.degree * self.gamma) * u[:, None] ** (self.degree - 1) * A
        return A.copy()

    def gamma_derivative(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """∂k(a_i, b_j)/∂γ, shape (len(A), len(B)) (0 for the linear kernel)."""
        if self.kind == "rbf":
            return -squared_distances(A, B) * self.matrix(A, B)
        if self.kind == "poly":
            G = A @ B.T
            return self.degree * (self.gamma * G + self.coef0) ** (self.degree - 1) * G
        return np.zeros((A.shape[0], B.shape[0]))

    def diagonal_gradient(self, x: np.ndarray) -> np.ndarray:
        """∇_x k(x, x)."""
        if self.kind == "rbf":
            return np.zeros_like(x)
        if self.kind == "poly":
            u = self.gamma * float(x @ x) + self.coef0
            return (2.0 * self.degree * self.gamma) * u ** (self.degree - 1) * x
        return 2.0 * x


@dataclass(frozen=True)
class DualFit:
    """The classifier's optimum on rows X (N × d) with targets ỹ = ±1: β = αỹ, b, the margin
    set S, the factor of its equalities (:class:`~flexpoison.engine.margin.MarginSystem`,
    None when S is empty), and ``precision``: how far, in units of f, any row may miss its
    optimality condition. ``Theta`` is (β…, b): the state a search carries."""

    X: np.ndarray
    t: np.ndarray
    beta: np.ndarray
    b: float
    margin: np.ndarray
    system: MarginSystem | None
    precision: float = 0.0

    @property
    def Theta(self) -> np.ndarray:
        return np.append(self.beta, self.b)[None, :]

    def decision(self, kernel: Kernel, Z: np.ndarray) -> np.ndarray:
        """f(z) for every row z of Z."""
        sv = np.flatnonzero(self.beta)
        return kernel.matrix(Z, self.X[sv]) @ self.beta[sv] + self.b

    def adjoint(
        self,
        kernel: Kernel,
        Z: np.ndarray,
        g: np.ndarray,
        gamma_slope: np.ndarray | None = None,
    ) -> np.ndarray:
        """Σ_z g_z ∂f(z)/∂x_c for the last row x_c of X (module docstring), shape (d,).

        ``gamma_slope``: ∂γ/∂x_c when the kernel's γ moves with the rows (scikit-learn's
        gamma='scale', :func:`scaled_gamma`); every k(·, ·) then moves with it too."""
        c = self.X.shape[0] - 1
        x_c, beta_c = self.X[c], self.beta[c]
        d = self.X.shape[1]
        if beta_c == 0.0 and gamma_slope is None:  # off the margin: f does not move
            return np.zeros(d)
        out = beta_c * (g @ kernel.gradient(Z, x_c))
        sv = np.flatnonzero(self.beta)
        if gamma_slope is not None:
            out = out + (g @ kernel.gamma_derivative(Z, self.X[sv]) @ self.beta[sv]) * gamma_slope
        if self.system is None:
            return out
        S = self.margin
        a = np.append(kernel.matrix(Z, self.X[S]).T @ g, g.sum())
        u = self.system.adjoint(a)
        D = np.zeros((S.size + 1, d))
        D[: S.size] = beta_c * kernel.gradient(self.X[S], x_c)
        if gamma_slope is not None:
            q = kernel.gamma_derivative(self.X[S], self.X[sv]) @ self.beta[sv]
            D[: S.size] += q[:, None] * gamma_slope
        on = np.flatnonzero(S == c)
        if on.size:  # row c of D: its own equality moves with x_c
            D[on[0]] -= beta_c * kernel.gradient(x_c[None], x_c)[0]
            others = sv[sv != c]
            D[on[0]] += self.beta[others] @ kernel.gradient(self.X[others], x_c)
            D[on[0]] += beta_c * kernel.diagonal_gradient(x_c)
        return out - u @ D


def scaled_gamma(X: np.ndarray) -> tuple[float, np.ndarray]:
    """scikit-learn's gamma='scale', γ = 1/(d·Var X) over every entry of X, and its
    derivative in the last row x_c: ∂γ/∂x_c = −2γ²(x_c − μ)/N, μ the mean entry."""
    N, d = X.shape
    var = float(X.var())
    if var == 0.0:
        return 1.0, np.zeros(d)
    gamma = 1.0 / (d * var)
    return gamma, -2.0 * gamma * gamma * (X[-1] - X.mean()) / N


def set_codes(beta: np.ndarray, C: float) -> np.ndarray:
    """Each row's set from its α = |β| (:data:`~flexpoison.engine.active_set.OFF`,
    ``MARGIN``, ``BOUND``), with α within :data:`_SET_TOL` of the largest α (at most C)
    from 0, or of C from C, at that bound."""
    alpha = np.abs(beta)
    codes = np.full(beta.size, MARGIN)
    codes[alpha <= _SET_TOL * min(C, float(alpha.max(initial=0.0)))] = OFF
    codes[alpha >= C * (1.0 - _SET_TOL)] = BOUND
    return codes


def libsvm_tolerance(K: np.ndarray, C: float) -> float:
    """libsvm's stopping tolerance on the margins: 1e-12, raised to 10 times the largest
    rounding its gradients can carry, 10ε·C·max_i Σ_j |k(x_i, x_j)| (libsvm never stops
    below it), at most 1e-3; :func:`fit` finishes the optimum exactly either way."""
    noise = 10.0 * _EPS * C * float(np.abs(K).sum(axis=1).max(initial=0.0))
    return min(_LOOSEST, max(_TOL, noise))


def feasible_start(start: np.ndarray | None, t: np.ndarray, C: float) -> np.ndarray | None:
    """(β…, b) to start the active-set method from: ``start`` on the same rows, or on
    the rows before the last one (the candidate then starts off the margin, β = 0);
    None when it has another length or β breaks 0 ≤ ỹβ ≤ C or Σβ = 0 (to 1e-9·C)."""
    if start is None:
        return None
    row = np.ravel(start)
    if row.size == t.size:
        row = np.concatenate([row[:-1], [0.0], row[-1:]])
    if row.size != t.size + 1:
        return None
    alpha = t * row[:-1]
    slack = 1e-9 * C
    if alpha.min() < -slack or alpha.max() > C + slack or abs(row[:-1].sum()) > slack:
        return None
    return row


def fit(
    kernel: Kernel,
    X: np.ndarray,
    t: np.ndarray,
    C: float,
    K: np.ndarray | None = None,
    *,
    solve: Callable[[np.ndarray, np.ndarray, float, float, int], tuple],
    name: str = "the classifier",
    max_iter: int | None = None,
    start: np.ndarray | None = None,
) -> DualFit:
    """The classifier's exact optimum on (X, ỹ = t).

    The exact optimum comes from the active-set method of
    :mod:`flexpoison.engine.active_set` (at most 10·N + 1000 steps), started from a
    previous optimum ``start`` = (β…, b) (:func:`feasible_start`: a few steps when the
    rows moved a little), or else from the dual solver ``solve(K, t, C, tol, max_iter)
    -> (support, α·ỹ on it, b, iterations)`` (libsvm through scikit-learn,
    :func:`flexpoison.models.kernel.libsvm_fit`) on the Gram matrix ``K`` (computed if
    not given), at :func:`libsvm_tolerance` and at most ``max_iter`` iterations (default
    max(10⁵, 100·N)): nothing to do when libsvm's sets are right but one solve of the
    margin rows' equalities. Every row meets its set's optimality condition to 1e-9,
    or 100 times the rounding of f, or — where the method stalls at the rounding of its
    solves — to the floor it reached, at most :data:`_WORST` (the fit's ``precision``);
    a warm start that stalls is tried again from libsvm's start, and the better kept.
    Raises :class:`ConvergenceError`, naming C and the kernel's scale, when the steps run
    out (from libsvm's start) or when that rounding exceeds :data:`_WORST`."""
    if K is None:
        K = kernel.matrix(X, X)
    # the margin systems are small (≤ N rows): a second OpenBLAS thread gains nothing and,
    # on a loaded machine, made one 150 × 150 LU take 31 ms instead of 0.3 ms
    with one_blas_thread():
        return _fit(X, t, C, K, solve, name, max_iter, start)


def _fit(X, t, C, K, solve, name, max_iter, start) -> DualFit:
    n = X.shape[0]
    steps = _STEPS_PER_ROW * n + _EXTRA_STEPS
    warm = feasible_start(start, t, C)
    floored = None
    if warm is not None:
        beta, b = warm[:-1].copy(), float(warm[-1])
        done = finish(K, t, C, beta, b, set_codes(beta, C), steps, _KKT_TOL, _WORST)
        if done.converged and not done.floored:
            return _checked(X, t, C, K, done, name)
        floored = done if done.floored else None  # perhaps a stall: libsvm's start next
    budget = max(_MIN_ITER, _ITER_PER_ROW * n) if max_iter is None else max_iter
    tol = libsvm_tolerance(K, C)
    support, coef, intercept, n_iter = solve(K, t, C, tol, budget)
    beta = np.zeros(n)
    beta[support] = coef  # the dual coefficients are α·ỹ
    done = finish(K, t, C, beta, float(intercept), set_codes(beta, C), steps, _KKT_TOL, _WORST)
    if floored is not None and (not done.converged or floored.missed < done.missed):
        done = floored
    if not done.converged:
        raise ConvergenceError(
            f"{name}: no optimum found: libsvm stopped after {n_iter} iterations (at most "
            f"{budget}, tolerance {tol:.0e}) and {steps} active-set steps leave a margin "
            f"off by {done.missed:.1e}; C = {C:.3g} with kernel values up to "
            f"{_kappa(K):.1e} makes the dual ill-conditioned: standardise the features or "
            "lower C"
        )
    return _checked(X, t, C, K, done, name)


def _checked(X, t, C, K, done: Finished, name: str) -> DualFit:
    """The :class:`DualFit` of :func:`finish`'s result, refused when f's rounding
    exceeds :data:`_WORST`."""
    beta, b, codes, system, _, allowed, _ = done
    if allowed > _WORST:
        raise ConvergenceError(
            f"{name}: the decision values lose {allowed / 100:.0e} to rounding in float64 "
            f"(C = {C:.3g}, kernel values up to {_kappa(K):.1e}: sums of large terms that "
            "cancel to ±1), too much for an exact fit or gradient; standardise the "
            "features or lower C"
        )
    return DualFit(X, t, beta, b, np.flatnonzero(codes == MARGIN), system, allowed)


def _kappa(K: np.ndarray) -> float:
    return float(np.abs(np.diag(K)).max(initial=0.0))


__all__ = [
    "Kernel",
    "DualFit",
    "scaled_gamma",
    "feasible_start",
    "fit",
    "libsvm_tolerance",
    "set_codes",
]
