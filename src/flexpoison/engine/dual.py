"""Kernel support vector machines: the exact dual fit and its implicit gradient.

A binary soft-margin support vector classifier with kernel k has the decision function
f(x) = Σ_j β_j k(x, x_j) + b, β_j = α_j·ỹ_j, where the dual variables 0 ≤ α_j ≤ C solve
libsvm's QP. At its optimum the rows split into three sets: rows off the margin (α = 0),
bound support vectors (α = C, β = Cỹ) and margin support vectors S (0 < α < C), on which
the KKT conditions are equalities,

    Σ_j β_j k(x_i, x_j) + b = ỹ_i   (i ∈ S),      Σ_j β_j = 0,

a linear system M·(β_S, b) = r with M = [[K_SS, 1], [1ᵀ, 0]]. :func:`fit` takes the
sets from libsvm (through scikit-learn, at a tight tolerance) and solves this system
exactly ("polishing"), so that the fit is libsvm's optimum to rounding.

Differentiating the system in a row x_c (the poison row, the last one) while the sets
hold — Biggio, Nelson and Laskov, *Poisoning Attacks against Support Vector Machines*,
ICML 2012 — gives M·∂(β_S, b)/∂x_c = −D with

    D_i = β_c ∇k(x_i, x_c)                         (i ∈ S, i ≠ c)
    D_c = Σ_{j≠c} β_j ∇k(x_j, x_c) + β_c ∇[k(x, x)]_{x=x_c}    (c ∈ S)

(∇ in the second argument; the row of Σ β_j = 0 is zero), and for any point z

    ∂f(z)/∂x_c = Σ_{j∈S} ∂β_j k(z, x_j) + ∂b + β_c ∇k(z, x_c).

:func:`adjoint` evaluates Σ_z g_z ∂f(z)/∂x_c for weights g with one solve of M. A row
off the margin (β_c = 0) does not move f: its gradient is exactly zero — unless γ
itself moves with the rows (scikit-learn's gamma='scale', γ = 1/(d·Var X)): then every
k(·, ·) moves with ∂k/∂γ·∂γ/∂x_c, which adds (Σ_j β_j ∂k(x_i, x_j)/∂γ)·∂γ/∂x_c to D_i
and to ∂f(z)/∂x_c.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import SingularHessianError

_SET_TOL = 1e-8  # α within this share of C from 0 or C is at the bound


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
            sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
            return np.maximum(sq, 0.0)
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
            sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
            return -np.maximum(sq, 0.0) * self.matrix(A, B)
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
    set S, and the LU factor of M. ``Theta`` is (β…, b): the state a search carries."""

    X: np.ndarray
    t: np.ndarray
    beta: np.ndarray
    b: float
    margin: np.ndarray
    lu: tuple | None

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
        if self.lu is None:
            return out
        from scipy.linalg import lu_solve

        S = self.margin
        a = np.append(kernel.matrix(Z, self.X[S]).T @ g, g.sum())
        u = lu_solve(self.lu, a, trans=1)
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


def fit(
    kernel: Kernel,
    X: np.ndarray,
    t: np.ndarray,
    C: float,
    K: np.ndarray | None = None,
    tol: float = 1e-12,
    *,
    solve: Callable[[np.ndarray, np.ndarray, float, float], tuple],
) -> DualFit:
    """The classifier's exact optimum on (X, ỹ = t): the sets of the dual solver
    ``solve(K, t, C, tol) -> (support, α·ỹ on it, b)`` (libsvm through scikit-learn,
    :func:`flexpoison.models.kernel.libsvm_fit`) on the Gram matrix ``K`` (computed if
    not given), then (β_S, b) from the KKT equalities."""
    from scipy.linalg import LinAlgError, lu_factor

    if K is None:
        K = kernel.matrix(X, X)
    support, coef, intercept = solve(K, t, C, tol)
    n = X.shape[0]
    beta = np.zeros(n)
    # the dual coefficients are α·ỹ with ỹ = +1 for the second sorted class
    beta[support] = coef
    alpha = np.abs(beta)
    bound = alpha >= C * (1.0 - _SET_TOL)
    off = alpha <= C * _SET_TOL
    beta[bound] = C * t[bound]
    beta[off] = 0.0
    S = np.flatnonzero(~bound & ~off)
    b = float(intercept)
    if S.size == 0:  # no margin row: b is not pinned by an equality (libsvm's midpoint)
        return DualFit(X, t, beta, b, S, None)
    M = np.zeros((S.size + 1, S.size + 1))
    M[: S.size, : S.size] = K[np.ix_(S, S)]
    M[: S.size, -1] = 1.0
    M[-1, : S.size] = 1.0
    fixed = np.flatnonzero(bound)
    r = np.append(t[S] - K[np.ix_(S, fixed)] @ beta[fixed], -beta[fixed].sum())
    try:
        lu = lu_factor(M, check_finite=False)
    except (LinAlgError, ValueError) as exc:  # pragma: no cover - degenerate sets
        raise SingularHessianError(
            f"the margin support vectors' system is singular: {exc}"
        ) from exc
    from scipy.linalg import lu_solve

    sol = lu_solve(lu, r)
    if not np.all(np.isfinite(sol)) or np.abs(M @ sol - r).max() > 1e-6 * (1 + np.abs(r).max()):
        raise SingularHessianError("the margin support vectors' system is singular")
    beta[S] = sol[:-1]
    return DualFit(X, t, beta, float(sol[-1]), S, lu)


__all__ = ["Kernel", "DualFit", "scaled_gamma", "fit"]
