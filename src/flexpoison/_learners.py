"""Learners: one training objective each, and everything derived from it.

Every supported victim minimises, over θ = (W, b) with K output rows,

    L(θ) = s(N) · Σ_i ℓ(W φ(x_i), t_i) + (λ₂/2)·‖W‖² + λ₁·‖W‖₁,

with φ(x) = (x − shift, 1) when the model has an intercept (the intercept is never
penalised; ``shift`` = x_c keeps the Gram matrix well conditioned and is undone by
``flexpoison.attack.public_map``) and φ(x) = x without one. ``s(N)`` is a constant, or a constant
over N = number of rows trained on. :class:`Learner` holds (ℓ, s, λ₁, λ₂); the
scikit-learn conventions (DESIGN.md) map onto it in :mod:`flexpoison._estimators`.

From ℓ's derivatives alone this module derives

* the stationarity condition g(θ) = ∇_θ L = s Σ_i ℓ'(z_i) ⊗ φ_i + λ₂ P θ (+ λ₁ sign w);
* the Hessian H = s Σ_i ℓ''(z_i) ⊗ φ_i φ_iᵀ + λ₂ P  (P masks the intercepts);
* the mixed derivative of g with respect to the poison row x_p,
  ∂g/∂x_p = s (ℓ'(z_p) ⊗ ∂φ/∂x + ℓ''(z_p) W ⊗ φ_p), and with respect to t_p;
* the poisoning gradient by the implicit function theorem, in adjoint form:
  ∇_{x_p} E = −(∂g/∂x_p)ᵀ H⁻¹ ∇_θ E. L1 terms are differentiated on the active set
  (coordinates ≠ 0), where λ₁ sign(w) is constant; inactive coordinates stay 0.

Linear systems are solved by Cholesky factorisation; a singular Hessian raises
:class:`~flexpoison.errors.SingularHessianError`, never a NaN.

Solvers. :func:`fit` solves any learner on any data (the reference). The attack asks
for θ on one fixed training set plus one candidate row thousands of times, so two
solvers specialise that question and fall back to :func:`fit` whenever they cannot
answer exactly: :class:`RankOneSolver` (squared loss: a Sherman–Morrison update of a
matrix factored once per training set, O(p²) per row whatever n; it also evaluates a
quadratic effect, and its implicit gradient, at the optimum without forming θ) and
:class:`NewtonSolver` (logistic/softmax: warm-started Newton with chord steps, the
exact Hessian formed only when a gradient is asked for). ``tests/test_solvers.py``
holds them to :func:`fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from .errors import SingularHessianError


class Loss(Protocol):
    n_outputs: int
    quadratic: bool

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...
    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...
    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...


# --------------------------------------------------------------------------- data
# A training set is seen only through the sums Σ ℓ, Σ ℓ' ⊗ φ and Σ ℓ'' ⊗ φφᵀ at a θ.
# Rows are kept for non-quadratic losses; the squared loss keeps sufficient statistics
# instead, so that adding a row costs O(p²) and an evaluation does not grow with n.


@dataclass(frozen=True)
class LossSums:
    """Σ_i ℓ, Σ_i ℓ' ⊗ φ_i (shape (K, p)) and Σ_i ℓ'' ⊗ φ_iφ_iᵀ (shape (Kp, Kp))."""

    value: float
    grad: np.ndarray
    hess: np.ndarray | None


def _row_sums(loss: Loss, Phi: np.ndarray, t: np.ndarray, Theta: np.ndarray,
              want_hess: bool, want_value: bool = True) -> LossSums:
    Z = Phi @ Theta.T
    value = float(np.sum(loss.value(Z, t))) if want_value else np.nan
    grad = loss.d1(Z, t).T @ Phi
    hess = None
    if want_hess:
        K, p = Theta.shape
        D2 = loss.d2(Z, t)
        if K == 1:
            hess = (Phi * D2[:, 0, 0, None]).T @ Phi
        else:
            hess = np.empty((K * p, K * p))
            for k in range(K):
                for m in range(k, K):
                    block = (Phi * D2[:, k, m, None]).T @ Phi
                    hess[k * p:(k + 1) * p, m * p:(m + 1) * p] = block
                    hess[m * p:(m + 1) * p, k * p:(k + 1) * p] = block.T
    return LossSums(value, grad, hess)


@dataclass(frozen=True)
class RowData:
    """Training rows kept as they are: ``Phi`` (n, p) and encoded targets ``t`` (n,)."""

    Phi: np.ndarray
    t: np.ndarray

    @property
    def n(self) -> int:
        return self.Phi.shape[0]

    def sums(self, loss: Loss, Theta: np.ndarray, want_hess: bool = True,
             want_value: bool = True) -> LossSums:
        return _row_sums(loss, self.Phi, self.t, Theta, want_hess, want_value)

    def with_row(self, phi: np.ndarray, t: float) -> RowData:
        return RowData(np.vstack([self.Phi, phi[None]]), np.append(self.t, t))


@dataclass(frozen=True)
class GramData:
    """Sufficient statistics of the squared loss: G = Σ φφᵀ, r = Σ φ t, q = Σ t², n.

    Σ (φᵀθ − t)² = θᵀGθ − 2rᵀθ + q, its gradient 2(Gθ − r) and Hessian 2G, so that
    neither an evaluation nor adding a row (a rank-one update) depends on n.
    """

    G: np.ndarray
    r: np.ndarray
    q: float
    n: int

    @classmethod
    def from_rows(cls, Phi: np.ndarray, t: np.ndarray) -> GramData:
        return cls(Phi.T @ Phi, Phi.T @ t, float(t @ t), Phi.shape[0])

    def sums(self, loss: Loss, Theta: np.ndarray, want_hess: bool = True) -> LossSums:
        theta = Theta[0]
        Gt = self.G @ theta
        value = float(theta @ Gt - 2.0 * self.r @ theta + self.q)
        return LossSums(value, 2.0 * (Gt - self.r)[None], 2.0 * self.G if want_hess else None)

    def with_row(self, phi: np.ndarray, t: float) -> GramData:
        return GramData(self.G + np.outer(phi, phi), self.r + t * phi, self.q + t * t, self.n + 1)


@dataclass(frozen=True)
class PlusRow:
    """A training set plus one candidate row, without copying the base set."""

    base: RowData | GramData
    phi: np.ndarray
    t: float

    @property
    def n(self) -> int:
        return self.base.n + 1

    def sums(self, loss: Loss, Theta: np.ndarray, want_hess: bool = True) -> LossSums:
        if isinstance(self.base, GramData):  # a rank-one update of the statistics
            return self.base.with_row(self.phi, self.t).sums(loss, Theta, want_hess)
        a = self.base.sums(loss, Theta, want_hess)
        b = _row_sums(loss, self.phi[None], np.array([self.t]), Theta, want_hess)
        return LossSums(a.value + b.value, a.grad + b.grad,
                        None if a.hess is None else a.hess + b.hess)


Data = RowData | GramData | PlusRow


# ------------------------------------------------------------------------- learner


@dataclass(frozen=True)
class Learner:
    """A training objective L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ (see module doc).

    Parameters
    ----------
    name : str
        Human-readable name, e.g. ``"Ridge(alpha=1.0)"``.
    loss : Loss
        The per-row loss ℓ.
    fit_intercept : bool
        Whether φ(x) ends with a constant 1 (an unpenalised intercept per output).
    loss_weight : float
        c in s(N) = c, or s(N) = c / N when ``per_sample`` is true.
    per_sample : bool
        Whether the loss is averaged over the N rows trained on.
    l2, l1 : float
        λ₂ and λ₁ (both ≥ 0); λ₁ > 0 is supported for the squared loss only.
    """

    name: str
    loss: Loss
    fit_intercept: bool
    loss_weight: float
    per_sample: bool
    l2: float
    l1: float

    @property
    def n_outputs(self) -> int:
        return self.loss.n_outputs

    def scale(self, n: int) -> float:
        """s(N): the factor in front of Σ ℓ."""
        return self.loss_weight / n if self.per_sample else self.loss_weight

    def penalty_mask(self, d: int) -> np.ndarray:
        """P: 1 on the flattened weight coordinates, 0 on the intercepts (read-only)."""
        return _penalty_mask(self.n_outputs, d, self.fit_intercept)

    def features(self, X: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """φ(x) for each row: (x − shift, 1) with an intercept, x without one."""
        X = np.atleast_2d(X)
        if not self.fit_intercept:
            return np.array(X, dtype=float)
        Phi = np.empty((X.shape[0], X.shape[1] + 1))
        np.subtract(X, shift, out=Phi[:, :-1])
        Phi[:, -1] = 1.0
        return Phi

    def feature_row(self, x: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """φ(x) for one row (1-D): :meth:`features` without its 2-D handling, for the
        attack's inner loop."""
        if not self.fit_intercept:
            return x - shift
        phi = np.empty(x.shape[0] + 1)
        np.subtract(x, shift, out=phi[:-1])
        phi[-1] = 1.0
        return phi

    def smooth_gradient_hessian(self, data: Data, Theta: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
        """g(θ) and H(θ) of the smooth part (everything but λ₁‖W‖₁), flattened."""
        _, g, H = self.smooth_value_gradient_hessian(data, Theta)
        return g, H

    def smooth_value_gradient_hessian(self, data: Data, Theta: np.ndarray,
                                      want_hess: bool = True
                                      ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """L, g and H (None unless ``want_hess``) of the smooth part, from one pass."""
        sums = data.sums(self.loss, Theta, want_hess=want_hess)
        return self.from_sums(sums, data.n, Theta)

    def from_sums(self, sums: LossSums, n: int, Theta: np.ndarray
                  ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """L = s·Σℓ + (λ₂/2)‖w‖², g = s·Σℓ'⊗φ + λ₂Pθ and H = s·Σℓ''⊗φφᵀ + λ₂P from the
        loss sums over N = ``n`` rows (H None when the sums carry no Hessian)."""
        K, p = Theta.shape
        s = self.scale(n)
        P = self.penalty_mask(p - self.fit_intercept)
        theta = Theta.ravel()
        g = s * sums.grad.ravel() + self.l2 * P * theta
        value = sums.value if math.isnan(sums.value) \
            else s * sums.value + 0.5 * self.l2 * float(P @ (theta * theta))
        if sums.hess is None:
            return value, g, None
        H = s * sums.hess
        H.flat[::H.shape[0] + 1] += self.l2 * P
        if K > 1 and self.fit_intercept:
            # Softmax scores are invariant to adding one constant to every intercept; the
            # Hessian is singular along that direction, g has no component on it. Fixing
            # the gauge Σ_k b_k = 0 (scikit-learn's) makes H definite without moving θ.
            u = 1.0 - P
            H += np.outer(u, u)
        return value, g, H


@lru_cache(maxsize=16)
def _identity(p: int) -> np.ndarray:
    """I_p (read-only, shared)."""
    eye = np.eye(p)
    eye.flags.writeable = False
    return eye


@lru_cache(maxsize=64)
def _penalty_mask(K: int, d: int, fit_intercept: bool) -> np.ndarray:
    mask = np.ones((K, d + fit_intercept))
    if fit_intercept:
        mask[:, d] = 0.0
    mask = mask.ravel()
    mask.flags.writeable = False
    return mask


# ---------------------------------------------------------------------- the solver


class CholeskyFactor:
    """H_SS = L·Lᵀ on the free coordinates S (all of them when ``idx`` is None).

    ``solve(b)`` returns H_SS⁻¹ b_S on S and 0 elsewhere (LAPACK potrs), so callers
    never index by the active set themselves."""

    __slots__ = ("L", "idx")

    def __init__(self, L: np.ndarray, idx: np.ndarray | None = None):
        self.L, self.idx = L, idx

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self.idx is None:
            return dpotrs(self.L, b, lower=1)[0]
        out = np.zeros_like(b)
        out[self.idx] = dpotrs(self.L, b[self.idx], lower=1)[0]
        return out


class RankOneFactor:
    """H = A + κ·φφᵀ on S, from A_SS⁻¹ padded with zeros (``Ainv``), by Sherman–Morrison:

        H⁻¹ b = A⁻¹ b − q·(qᵀb)·κ / (1 + κ·φᵀq),   q = A⁻¹ φ,

    every inverse restricted to S and padded with zeros. ``coef`` = κ / (1 + κ·φᵀq) > 0:
    the update never loses definiteness (κ > 0)."""

    __slots__ = ("Ainv", "q", "coef")

    def __init__(self, Ainv: np.ndarray, q: np.ndarray, coef: float):
        self.Ainv, self.q, self.coef = Ainv, q, coef

    def solve(self, b: np.ndarray) -> np.ndarray:
        q = self.q
        return self.Ainv.dot(b) - q * (self.coef * float(q.dot(b)))


Factor = CholeskyFactor | RankOneFactor


@dataclass(slots=True)
class Fit:
    """A learner's optimum on a data set, with what the implicit gradient reuses.

    ``Theta`` (K, p) is the solution; ``active`` masks the flattened coordinates that
    are free (None: all of them, as without L1; with L1 the nonzero weights and the
    intercepts); ``factor`` solves with the Hessian restricted to them (None when no
    coordinate is free, or when the solver did not need the exact Hessian at
    ``Theta``: :func:`hessian_factor` makes it on demand). Read-only by convention
    (not frozen: it is made on every objective evaluation, and freezing costs µs).
    """

    Theta: np.ndarray
    active: np.ndarray | None
    factor: Factor | None
    n: int


def _cholesky(H: np.ndarray, learner: Learner, idx: np.ndarray | None = None
              ) -> CholeskyFactor:
    """Cholesky factor of H (LAPACK potrf: the systems are small, so the cost is call
    overhead, which the raw LAPACK binding keeps to microseconds)."""
    factor, info = dpotrf(H, lower=1, clean=0)
    if info != 0:
        raise SingularHessianError(
            f"{learner.name}: the training objective's Hessian is singular, so the "
            "model is not unique (collinear or duplicated features, or fewer rows than "
            "features); add regularisation (e.g. Ridge) or remove redundant features")
    return CholeskyFactor(factor, idx)


def fit(learner: Learner, data: Data, Theta0: np.ndarray, *, max_iter: int = 100,
        tol: float = 1e-8) -> Fit:
    """Minimise L on ``data``, starting from ``Theta0``.

    Squared loss without L1: one Newton step, θ = θ₀ − H⁻¹ g(θ₀), is exact.
    Squared loss with L1: coordinate descent on the quadratic model, finished by an
    exact solve on the active set (:func:`_solve_l1_quadratic`).
    Other losses: Newton's method with Armijo backtracking on L, stopping after a full
    step below ``tol`` relative to θ (quadratic convergence leaves an O(tol²) error).
    """
    K, p = Theta0.shape
    if learner.l1 > 0:
        g, H = learner.smooth_gradient_hessian(data, Theta0)
        c = H @ Theta0.ravel() - g  # L_smooth(θ) = ½ θᵀHθ − cᵀθ + const
        lam = learner.l1 * learner.penalty_mask(p - learner.fit_intercept)
        theta, active = _solve_l1_quadratic(H, c, lam, Theta0.ravel(), learner)
        idx = np.flatnonzero(active)
        factor = _cholesky(H[np.ix_(idx, idx)], learner, idx) if idx.size \
            else None  # every coefficient is 0 and stays 0 locally
        return Fit(theta.reshape(K, p), active, factor, data.n)

    active = None
    Theta = Theta0.copy()
    if learner.loss.quadratic:
        g, H = learner.smooth_gradient_hessian(data, Theta)
        factor = _cholesky(H, learner)
        Theta = Theta - factor.solve(g).reshape(K, p)
        return Fit(Theta, active, factor, data.n)

    L, g, H = learner.smooth_value_gradient_hessian(data, Theta)
    for _ in range(max_iter):
        factor = _cholesky(H, learner)
        step = factor.solve(g).reshape(K, p)
        size = np.max(np.abs(step)) / (1.0 + np.max(np.abs(Theta)))
        if size <= tol:
            # Newton converges quadratically: after a step this small the error left is
            # O(size²), far below what any caller can see.
            Theta = Theta - step
            break
        if size <= 1e-5:
            # Quadratic-convergence regime: the full step is safe, and a line search
            # would only compare values of L that differ in their last bits.
            Theta = Theta - step
            L, g, H = learner.smooth_value_gradient_hessian(data, Theta)
            continue
        decrease = float(g @ step.ravel())  # Newton decrement λ², ≥ 0
        t = 1.0
        while True:  # Armijo backtracking; the accepted point's g and H are reused
            candidate = Theta - t * step
            L_new, g_new, H_new = learner.smooth_value_gradient_hessian(data, candidate)
            if L_new <= L - 1e-4 * t * decrease or t < 1e-10:
                break
            t *= 0.5
        Theta, L, g, H = candidate, L_new, g_new, H_new
    return Fit(Theta, active, factor, data.n)


def _solve_l1_quadratic(A: np.ndarray, c: np.ndarray, lam: np.ndarray,
                        theta0: np.ndarray, learner: Learner, max_sweeps: int = 100_000
                        ) -> tuple[np.ndarray, np.ndarray]:
    """argmin ½θᵀAθ − cᵀθ + Σ_j lam_j |θ_j| (A positive definite on the support).

    Cyclic coordinate descent, θ_j ← S(c_j − Σ_{k≠j} A_jk θ_k, lam_j) / A_jj with S the
    soft threshold, warm-started at ``theta0``. Whenever the support looks settled, the
    active-set system A_SS θ_S = c_S − lam_S·sign(θ_S) is solved exactly; its answer is
    accepted when it keeps the signs and the inactive coordinates satisfy the KKT
    condition |c_j − A_jS θ_S| ≤ lam_j. Returns θ and the active mask.
    """
    theta = theta0.copy()
    diag = np.diag(A)
    if np.any(diag <= 0):
        raise SingularHessianError(f"{learner.name}: a feature has zero variance in the "
                                   "training rows, so its coefficient is not determined")
    for sweep in range(max_sweeps):
        if sweep % 5 == 0:
            polished = _polish_active_set(A, c, lam, theta, learner, sweep >= 50)
            if polished is not None:
                return polished, (polished != 0) | (lam == 0)
        for j in range(theta.size):
            rho = c[j] - A[j] @ theta + diag[j] * theta[j]
            theta[j] = np.sign(rho) * max(abs(rho) - lam[j], 0.0) / diag[j]
    raise SingularHessianError(f"{learner.name}: coordinate descent did not converge")


def _polish_active_set(A, c, lam, theta, learner: Learner, settled: bool
                       ) -> np.ndarray | None:
    active = (theta != 0) | (lam == 0)
    if not np.any(active):
        return None if np.any(np.abs(c) > lam) else np.zeros_like(theta)
    sign = np.sign(theta)
    try:
        sol = np.linalg.solve(A[np.ix_(active, active)], c[active] - lam[active] * sign[active])
    except np.linalg.LinAlgError:
        if settled:  # the support has stopped moving and is still degenerate
            raise SingularHessianError(
                f"{learner.name}: the model is not unique: features in its support are "
                "collinear (e.g. a duplicated column); remove redundant features") from None
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


def hessian_factor(learner: Learner, data: Data, fit_: Fit) -> Factor | None:
    """The factor of H(θ) at ``fit_.Theta``, restricted to the free coordinates (for a
    fit whose solver did not make it)."""
    S = fit_.active
    if S is not None and not S.any():
        return None
    _, H = learner.smooth_gradient_hessian(data, fit_.Theta)
    if S is None:
        return _cholesky(H, learner)
    idx = np.flatnonzero(S)
    return _cholesky(H[np.ix_(idx, idx)], learner, idx)


@dataclass(slots=True)
class Quadratic:
    """f(θ) = θᵀMθ + 2mᵀθ + m₀ on the flat θ of a one-output model (M symmetric).

    An effect E that is quadratic in θ declares itself this way, and
    :class:`RankOneSolver` then evaluates it at a candidate's optimum without forming θ.
    """

    M: np.ndarray
    m: np.ndarray
    m0: float

    def value(self, theta: np.ndarray) -> float:
        return float(theta @ (self.M @ theta + 2.0 * self.m)) + self.m0


@dataclass(slots=True)
class RankOneTrial:
    """A candidate row's optimum θ = θ₀ + βq, not yet formed (:meth:`RankOneSolver.fit_of`
    forms it). ``Qphi`` = Q·φ (q, then A⁻¹MA⁻¹φ when observing), ``denom`` =
    1 + κ·φᵀq, ``phi_theta`` = φᵀθ; ``value`` is the observed quadratic f at θ,
    ``re_phi`` = rₑᵀφ and ``qNq`` = φᵀA⁻¹MA⁻¹φ its parts (None, 0, 0 when the solver
    observes none)."""

    entry: _ActiveSet
    Qphi: np.ndarray
    beta: float
    denom: float
    phi_theta: float
    value: float | None
    re_phi: float
    qNq: float


class RankOneSolver:
    """The squared loss on fixed statistics (G, r) plus one row (φ, t), solved in O(p²).

    With κ = s(n + 1)·ℓ'' (= 2s for ℓ = (z − t)²), A = κG + λ₂P and c = κr, the smooth
    optimum solves (A + κφφᵀ) θ = c + κtφ, hence by Sherman–Morrison

        θ = θ₀ + β·q,   θ₀ = A⁻¹c,   q = A⁻¹φ,   β = κ(t − φᵀθ₀) / (1 + κ·φᵀq),

    and the Hessian's inverse is a :class:`RankOneFactor`. A⁻¹ is formed once per
    training set (from A's Cholesky factor), so a candidate row costs two products,
    Q·φ (Q stacks A⁻¹ and the block below) and R·φ (R stacks θ₀ᵀ and the rows below),
    and a dot, whatever n is.

    With λ₁ > 0 the same formulas hold on an active set S with signs σ (c_S becomes
    c_S − λ_S σ_S, the inverses are restricted to S and padded with zeros): the set is
    read off the warm start, and the answer is the exact optimum when the signs hold
    and every inactive j has |c_j + κ(t − φᵀθ)φ_j − (Aθ)_j| ≤ λ_j (the KKT
    conditions). Otherwise :meth:`trial` returns None and the caller solves the problem
    from scratch (:func:`fit`).

    ``observe``, a :class:`Quadratic` f, is evaluated at every optimum without forming
    θ: f(θ₀ + βq) = f(θ₀) + 2β·(A⁻¹(Mθ₀ + m))ᵀφ + β²·φᵀ(A⁻¹MA⁻¹)φ, a row of R and a
    block of Q precomputed per active set.
    """

    def __init__(self, learner: Learner, gram: GramData, observe: Quadratic | None = None):
        p = gram.G.shape[0]
        d = p - learner.fit_intercept
        self.learner = learner
        self.p = p
        self.n = gram.n + 1
        self.kappa = learner.scale(self.n) * _constant_curvature(learner.loss)
        A = self.kappa * gram.G
        if learner.l2 > 0:
            A.flat[::p + 1] += learner.l2 * learner.penalty_mask(d)
        self.A = A
        self.c = self.kappa * gram.r
        self.lam = learner.l1 * learner.penalty_mask(d)
        self._free = self.lam == 0  # coordinates without an L1 term (always active)
        self.observe = observe
        self._sets: dict[bytes, _ActiveSet | None] = {}
        self._recent: list[tuple[np.ndarray, _ActiveSet | None]] = []
        self._full = None if learner.l1 > 0 else self._active_set(np.zeros(p))

    @classmethod
    def for_data(cls, learner: Learner, data: Data, observe: Quadratic | None = None
                 ) -> RankOneSolver | None:
        """A solver when the learner's loss is quadratic and A is definite, else None."""
        if not (learner.loss.quadratic and learner.n_outputs == 1
                and isinstance(data, GramData)):
            return None
        try:
            return cls(learner, data, observe)
        except SingularHessianError:  # e.g. OLS on fewer rows than features: the
            return None               # candidate row may still make H definite

    def fit(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> Fit | None:
        """The exact optimum with (φ, t) added, or None (L1: the warm start's active set
        is not the optimum's)."""
        trial = self.trial(phi, t, Theta0)
        return None if trial is None else self.fit_of(trial)

    def trial(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> RankOneTrial | None:
        """The optimum with (φ, t) added as θ₀ + βq, with the observed quadratic's value
        there; None as for :meth:`fit`."""
        entry = self._full if self._full is not None else self._entry(Theta0)
        if entry is None:
            return None
        kappa = self.kappa
        # ndarray.dot rather than @: on arrays this small the call is the cost, and
        # the method's dispatch is about half of matmul's
        Qphi = entry.Q.dot(phi)               # q (, A⁻¹MA⁻¹φ)
        forms = Qphi.dot(phi).tolist()        # φᵀq (, φᵀA⁻¹MA⁻¹φ)
        scalars = entry.R.dot(phi).tolist()   # φᵀθ₀ (, rₑᵀφ), then the support rows
        phi_q, phi_theta0 = forms[0], scalars[0]
        denom = 1.0 + kappa * phi_q
        beta = kappa * (t - phi_theta0) / denom
        phi_theta = phi_theta0 + beta * phi_q
        if entry.active is not None and not self._support_holds(
                entry, scalars[1 + (self.observe is not None):], t, beta, phi_theta):
            return None
        if self.observe is None:
            return RankOneTrial(entry, Qphi, beta, denom, phi_theta, None, 0.0, 0.0)
        re_phi, qNq = scalars[1], forms[1]
        value = entry.value0 + beta * (2.0 * re_phi + beta * qNq)
        return RankOneTrial(entry, Qphi, beta, denom, phi_theta, value, re_phi, qNq)

    def observed_gradient(self, trial: RankOneTrial, t: float, d: int, scale: float = 1.0
                          ) -> tuple[np.ndarray, float]:
        """``scale`` × (∇_{x_p} f, ∂f/∂t_p) for the observed quadratic f at ``trial``'s
        optimum θ: :func:`implicit_gradient` with H⁻¹∇f read off Q·φ instead of solved
        for. With ∇f = 2(Mθ + m) and θ = θ₀ + βq,

            u = H⁻¹∇f = 2(rₑ + β·A⁻¹MA⁻¹φ) − (κ/denom)·(qᵀ∇f)·q,
            qᵀ∇f = 2(rₑᵀφ + β·φᵀA⁻¹MA⁻¹φ),   φᵀu = qᵀ∇f / denom,

        and, for ℓ = (ℓ''/2)(z − t)² (s·ℓ' = −γ with γ = κ(t − φᵀθ), s·ℓ'' = κ):
        ∇_{x_p} f = γ·u_w − κ·(φᵀu)·w and ∂f/∂t_p = κ·φᵀu (u_w, w: the first d
        coordinates). Both vectors are combinations of rₑ, θ₀, q and A⁻¹MA⁻¹φ, so
        ∇_{x_p} f is one product of four coefficients with those four rows."""
        kappa, beta = self.kappa, trial.beta
        q_grad = 2.0 * (trial.re_phi + beta * trial.qNq)
        phi_u = q_grad / trial.denom
        two_gamma = 2.0 * kappa * (t - trial.phi_theta)
        c = 0.5 * kappa * phi_u  # u/2 = rₑ + β·A⁻¹MA⁻¹φ − c·q
        k_phi_u = kappa * phi_u
        coefs = np.array([two_gamma, -k_phi_u, -two_gamma * c - k_phi_u * beta,
                          two_gamma * beta])
        coefs *= scale
        rows = np.concatenate((trial.entry.K, trial.Qphi))  # rₑ, θ₀, q, A⁻¹MA⁻¹φ
        return coefs.dot(rows)[:d], scale * k_phi_u

    def fit_of(self, trial: RankOneTrial) -> Fit:
        """θ = θ₀ + βq of ``trial``, with its Hessian's inverse as a RankOneFactor."""
        entry, q = trial.entry, trial.Qphi[0]
        Theta = (entry.theta0 + trial.beta * q)[None]
        if entry.active is not None:  # the next warm start is usually this optimum
            self._remember(Theta, entry)
        return Fit(Theta, entry.active,
                   RankOneFactor(entry.Ainv, q, self.kappa / trial.denom), self.n)

    def _support_holds(self, entry: _ActiveSet, values: list[float], t: float,
                       beta: float, phi_theta: float) -> bool:
        """Whether θ = θ₀ + βq is the optimum: the signs hold on the support,
        σ_j θ_j = σ_j θ₀_j + β·σ_j q_j > 0, and each inactive j meets KKT,
        |(c − Aθ₀)_j + γ·φ_j − β·(Aq)_j| ≤ λ_j with γ = κ(t − φᵀθ).

        ``values`` (from R·φ) holds σ_j q_j, φ_j and (Aq)_j. The test runs on Python
        floats: for the few coordinates of a linear model that is several times faster
        than a chain of tiny numpy operations."""
        n_sign, k = len(entry.sign_start), len(entry.r0)
        for start, slope in zip(entry.sign_start, values):
            if start + beta * slope <= 0.0:
                return False  # a weight crossed (or reached) zero: the support changes
        gamma = self.kappa * (t - phi_theta)
        for r, bound, phi_j, aq_j in zip(entry.r0, entry.bound, values[n_sign:n_sign + k],
                                         values[n_sign + k:]):
            if abs(r + gamma * phi_j - beta * aq_j) > bound:
                return False  # an inactive weight wants to enter the support
        return True

    def _entry(self, Theta0: np.ndarray) -> _ActiveSet | None:
        for start, entry in self._recent:  # warm starts are usually recent optima
            if start is Theta0:
                return entry
        sign = np.sign(Theta0.ravel())
        sign[self._free] = 0.0
        key = sign.tobytes()
        if key not in self._sets:
            self._sets[key] = self._active_set(sign)
        self._remember(Theta0, self._sets[key])
        return self._sets[key]

    def _remember(self, Theta: np.ndarray, entry: _ActiveSet | None) -> None:
        self._recent = [(Theta, entry)] + self._recent[:3]

    def _active_set(self, sign: np.ndarray) -> _ActiveSet | None:
        p, l1 = self.p, self.learner.l1 > 0
        eye = _identity(p)
        if l1:
            active = (sign != 0) | self._free
            if not active.any():
                return None  # the empty support: left to the general solver
            inactive = np.flatnonzero(~active)
            # A_SS ⊕ I (the inactive rows and columns replaced by the identity's): one
            # p × p factorisation gives A_SS⁻¹ padded, once the identity block is zeroed
            A_S = self.A.copy()
            A_S[inactive] = 0.0
            A_S[:, inactive] = 0.0
            A_S[inactive, inactive] = 1.0
        else:
            active, A_S = None, self.A
        try:
            L = _cholesky(A_S, self.learner)
        except SingularHessianError:
            if not l1:
                raise
            return None
        Ainv = dpotrs(L.L, eye, lower=1)[0]
        if l1:
            Ainv[inactive, inactive] = 0.0
        Ainv += Ainv.T  # symmetric to the last bit (then halved)
        Ainv *= 0.5
        theta0 = Ainv @ (self.c - self.lam * sign) if l1 else Ainv @ self.c
        blocks, rows = [Ainv], [theta0[None]]
        value0, K = 0.0, None
        if self.observe is not None:
            M, m = self.observe.M, self.observe.m
            r_e = Ainv @ (M @ theta0 + m)  # A⁻¹·½∇f(θ₀)
            blocks.append(Ainv @ M @ Ainv)
            rows.append(r_e[None])
            K = np.stack((r_e, theta0))
            value0 = self.observe.value(theta0)
        Q = np.stack(blocks)
        if not l1:
            return _ActiveSet(Q=Q, R=np.concatenate(rows), theta0=theta0, Ainv=Ainv,
                              active=None, value0=value0, K=K, sign_start=[], r0=[],
                              bound=[])
        pen = np.flatnonzero(active > self._free)  # active and penalised
        signs = sign[pen]
        A_I = self.A[inactive]
        support_rows = [signs[:, None] * Ainv[pen], eye[inactive], A_I @ Ainv]
        active.flags.writeable = False  # shared by every Fit on this support
        return _ActiveSet(
            Q=Q, R=np.concatenate(rows + support_rows), theta0=theta0, Ainv=Ainv,
            active=active, value0=value0, K=K,
            sign_start=(signs * theta0[pen]).tolist(),
            r0=(self.c[inactive] - A_I @ theta0).tolist(),
            bound=[lam * (1 + 1e-9) + 1e-14 for lam in self.lam[inactive].tolist()])


@dataclass(frozen=True)
class _ActiveSet:
    """What :class:`RankOneSolver` precomputes for one active set S with signs σ.

    Q stacks the p × p blocks A⁻¹ and (when a quadratic f is observed) A⁻¹MA⁻¹, so
    that Q·φ gives q and A⁻¹MA⁻¹φ. R stacks the rows θ₀ᵀ, rₑᵀ = (A⁻¹(Mθ₀ + m))ᵀ
    (observed), σ_j·A⁻¹_j for the penalised support, the identity rows of the
    inactive set I and the rows I of A·A⁻¹, so that R·φ gives φᵀθ₀, rₑᵀφ, σ_j q_j, φ_I
    and (A q)_I. ``value0`` is f(θ₀) and K stacks rₑ and θ₀ (observed); ``sign_start``
    is σ_j θ₀_j, ``r0`` is (c − Aθ₀)_I and ``bound`` the KKT bound λ_I (with a
    rounding allowance), as Python floats for :meth:`RankOneSolver._support_holds`."""

    Q: np.ndarray
    R: np.ndarray
    theta0: np.ndarray
    Ainv: np.ndarray
    active: np.ndarray | None  # None: no L1 term, nothing to check
    value0: float
    K: np.ndarray | None
    sign_start: list[float]
    r0: list[float]
    bound: list[float]


class NewtonSolver:
    """A non-quadratic loss on rows kept plus one candidate row, warm-started Newton.

    Each evaluation starts at the warm start Θ₀ (usually the previous accepted optimum,
    whose rows' Hessian is cached) and iterates θ ← θ − H⁻¹ g(θ), keeping H from the
    last point where it was formed (a chord iteration): a step costs one gradient pass,
    O(n·p), instead of O(n·p²), and converges linearly at the rate ‖I − H_old⁻¹H‖ =
    O(distance moved since), far below 1 for the small moves of a poison point. H is
    formed afresh when a step does not shrink the previous one tenfold, and a step
    taken with a fresh H that is larger than 1e-3 relative is damped by an Armijo line
    search on L, as in :func:`fit`.

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
        p = data.Phi.shape[1]
        self._s = learner.scale(self.n)
        self._l2P = learner.l2 * learner.penalty_mask(p - learner.fit_intercept)

    @classmethod
    def for_data(cls, learner: Learner, data: Data) -> NewtonSolver | None:
        if learner.loss.quadratic or learner.l1 > 0 or not isinstance(data, RowData):
            return None
        return cls(learner, data)

    def _with_candidate(self, phi: np.ndarray, t: float) -> RowData:
        """The rows and (φ, t) in one array (made once; the last row is overwritten)."""
        if self._rows is None:
            self._rows = self.data.with_row(phi, t)
        else:
            self._rows.Phi[-1] = phi
            self._rows.t[-1] = t
        return self._rows

    def _full(self, Theta, phi, t, cached=False):
        """L, g and H on the rows plus (φ, t); with ``cached`` the rows' share is looked
        up among recent θ's (and kept)."""
        loss = self.learner.loss
        if not cached:
            sums = self._with_candidate(phi, t).sums(loss, Theta, True)
            return self.learner.from_sums(sums, self.n, Theta)
        for start, base in self._recent:
            if start is Theta:
                break
        else:
            base = self.data.sums(loss, Theta, True)
            self._recent = [(Theta, base)] + self._recent[:1]
        row = _row_sums(loss, phi[None], np.array([t]), Theta, True)
        sums = LossSums(base.value + row.value, base.grad + row.grad, base.hess + row.hess)
        return self.learner.from_sums(sums, self.n, Theta)

    def _gradient(self, Theta: np.ndarray) -> np.ndarray:
        """g = s·Σ ℓ' ⊗ φ + λ₂Pθ over the rows and the candidate last written."""
        rows = self._rows
        grad = self.learner.loss.d1(rows.Phi @ Theta.T, rows.t).T @ rows.Phi
        return self._s * grad.ravel() + self._l2P * Theta.ravel()

    def _value(self, Theta: np.ndarray) -> float:
        """L = s·Σ ℓ + (λ₂/2)‖w‖² over the rows and the candidate last written."""
        rows = self._rows
        theta = Theta.ravel()
        return self._s * float(np.sum(self.learner.loss.value(rows.Phi @ Theta.T, rows.t))) \
            + 0.5 * float(self._l2P @ (theta * theta))

    def fit(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> Fit | None:
        """The optimum with (φ, t) added, or None if ``max_iter`` steps did not reach
        it (the caller then runs the general solver, :func:`fit`)."""
        learner = self.learner
        K, p = Theta0.shape
        Theta = Theta0
        self._with_candidate(phi, t)
        L, g, H = self._full(Theta, phi, t, cached=True)
        factor = _cholesky(H, learner)
        fresh, previous = True, np.inf
        scale = 1.0 + np.abs(Theta).max()  # sizes are relative to θ (which moves little)
        for _ in range(self.max_iter):
            step = factor.solve(g).reshape(K, p)
            size = np.abs(step).max() / scale
            if size <= self.TOL or (fresh and size <= self.NEWTON_TOL) or \
                    (not fresh and size >= previous and size <= self.NEWTON_TOL):
                # converged: a chord step this small leaves ~rate·size, a Newton step
                # O(size²); a chord step that stops shrinking there is rounding noise
                Theta = Theta - step
                break
            if not fresh and size > 0.1 * previous:  # the chord is slow: refresh H
                L, g, H = self._full(Theta, phi, t)
                factor, fresh, previous = _cholesky(H, learner), True, np.inf
                continue
            damped = False
            if fresh and size > self.FAR:
                decrease = float(g @ step.ravel())  # Newton decrement λ², ≥ 0
                length = 1.0
                while True:  # Armijo backtracking on L
                    candidate = Theta - length * step
                    if self._value(candidate) <= L - 1e-4 * length * decrease \
                            or length < 1e-10:
                        break
                    length *= 0.5
                Theta, damped = candidate, length < 1.0
            else:
                Theta = Theta - step
            if damped:  # far from the optimum: a Newton step from here
                L, g, H = self._full(Theta, phi, t)
                factor, fresh, previous = _cholesky(H, learner), True, np.inf
            else:
                g = self._gradient(Theta)
                fresh, previous = False, size
        else:
            return None
        return Fit(Theta, None, None, self.n)

    def factor(self, fit_: Fit, phi: np.ndarray, t: float) -> CholeskyFactor:
        """The Cholesky factor of the exact H at ``fit_.Theta`` (rows' share cached)."""
        _, _, H = self._full(fit_.Theta, phi, t, cached=True)
        return _cholesky(H, self.learner)


# ------------------------------------------------------- the implicit (poisoning) gradient


def mixed_derivative(learner: Learner, Theta: np.ndarray, phi: np.ndarray, t: float,
                     n: int, d: int) -> np.ndarray:
    """∂g/∂x_p for one row, shape (K·p, d).

    g's row term is s·ℓ'(z_p) ⊗ φ_p with z_p = W φ_p, so entry (k·p + a, j) is
    s·(ℓ'_k(z_p)·∂φ_a/∂x_j + φ_a·Σ_l ℓ''_kl(z_p) W_lj), with ∂φ_a/∂x_j = [a = j].
    """
    K, p = Theta.shape
    z = (Theta @ phi)[None]
    t_arr = np.array([t])
    d1 = learner.loss.d1(z, t_arr)[0]
    d2 = learner.loss.d2(z, t_arr)[0]
    J = np.zeros((K, p, d))
    J[:, np.arange(d), np.arange(d)] = d1[:, None]
    J += phi[None, :, None] * (d2 @ Theta[:, :d])[:, None, :]
    return learner.scale(n) * J.reshape(K * p, d)


@lru_cache(maxsize=8)
def _constant_curvature(loss: Loss) -> float:
    """ℓ'' of a quadratic loss with one output (the same at every z and t)."""
    return float(loss.d2(np.zeros((1, 1)), np.zeros(1))[0, 0, 0])


def implicit_gradient(learner: Learner, fit_: Fit, phi: np.ndarray, t: float, d: int,
                      dE_dTheta: np.ndarray, with_target: bool
                      ) -> tuple[np.ndarray, float | None]:
    """∇_{x_p} E (and ∂E/∂t_p if ``with_target``) for E depending on θ only.

    With u = H_SS⁻¹ (∇_θ E)_S on the active set S: ∇_{x_p} E = −(∂g_S/∂x_p)ᵀ u and
    ∂E/∂t_p = −(∂g_S/∂t_p)ᵀ u, where ∂g/∂t_p = s·(∂ℓ'/∂t)(z_p) ⊗ φ_p.
    """
    Theta = fit_.Theta
    rhs = dE_dTheta.ravel()
    # zero on the inactive coordinates (their θ does not move), all zero when none is free
    u = np.zeros_like(rhs) if fit_.factor is None else fit_.factor.solve(rhs)
    s = learner.scale(fit_.n)
    K, p = Theta.shape
    z = (Theta @ phi)[None]
    t_arr = np.array([t])
    if K == 1:  # Jᵀu = s·(ℓ'·u_w + ℓ''·(φ·u)·w), J as in mixed_derivative, unformed
        d1 = float(learner.loss.d1(z, t_arr)[0, 0])
        d2 = _constant_curvature(learner.loss) if learner.loss.quadratic \
            else float(learner.loss.d2(z, t_arr)[0, 0, 0])
        grad_x = (-s * d1) * u[:d] + (-s * d2 * float(phi @ u)) * Theta[0, :d]
    else:
        grad_x = -(mixed_derivative(learner, Theta, phi, t, fit_.n, d).T @ u)
    grad_t = None
    if with_target:
        dg_dt = s * np.outer(learner.loss.d1_dt(z, t_arr)[0], phi)
        grad_t = -float(dg_dt.ravel() @ u)
    return grad_x, grad_t
