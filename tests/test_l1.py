"""The L1 solver started as the attack starts it: from the optimum of the training set,
with a candidate row added (the support moves by several coordinates at once).

:func:`flexpoison.engine.l1.solve_factored` lets several KKT violators join per step,
drops sign flips together and carries the support's Cholesky factor from step to step;
whatever path it takes, its answer must be the optimum (scikit-learn's objective value
and fitted values, the KKT conditions), on a support where A is definite, with a factor
that solves with A there.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from conftest import rank_deficient_design
from flexpoison.engine import l1


def _problem(X, y, alpha):
    """A, c, λ of scikit-learn's Lasso objective (1/2n)‖y − Xw − b‖² + α‖w‖₁ in
    θ = (w, b): f(θ) = ½θᵀAθ − cᵀθ + Σλ_j|θ_j| equals it less ‖y‖²/2n."""
    Z = np.hstack([X, np.ones((len(y), 1))])
    lam = np.append(np.full(X.shape[1], alpha), 0.0)
    return Z, Z.T @ Z / len(y), Z.T @ y / len(y), lam


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**16),
    duplicated=st.integers(0, 3),
    zero=st.booleans(),
    groups=st.integers(0, 3),
    alpha=st.floats(1e-4, 0.3),
    corner=st.booleans(),
    scale=st.floats(0.5, 30.0),
)
def test_a_solve_warm_started_without_the_added_row_is_the_optimum(
    seed, duplicated, zero, groups, alpha, corner, scale
):
    """A row added to a rank-deficient design, solved from the optimum without it (the
    attack's warm start): scikit-learn's objective value and fitted values, the KKT
    conditions, A definite on the support and the returned factor solving with it.
    A row at the box's corners (0/1 features) and a far response move the support
    most; a zero column becomes nonzero on that row alone."""
    rng = np.random.default_rng(seed)
    n = 40
    X, y = rank_deficient_design(rng, n, duplicated, zero, groups)
    _, A, c, lam = _problem(X, y, alpha)
    base, _ = l1.solve(A, c, lam, np.zeros(A.shape[0]), "Lasso")
    x = rng.integers(0, 2, X.shape[1]).astype(float) if corner else rng.uniform(size=X.shape[1])
    t = scale * rng.choice([-1.0, 1.0])
    X1, y1 = np.vstack([X, x]), np.append(y, t)
    Z1, A1, c1, _ = _problem(X1, y1, alpha)

    theta, active, factor = l1.solve_factored(A1, c1, lam, base, "Lasso")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ref = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6).fit(X1, y1)
    theta_ref = np.append(ref.coef_, ref.intercept_)
    f, f_ref = l1.objective(A1, c1, lam, np.stack([theta, theta_ref]))
    assert f <= f_ref + 1e-10 * (1 + abs(f_ref))
    if not caught:  # coordinate descent converged: the fitted values are unique
        assert np.allclose(Z1 @ theta, Z1 @ theta_ref, atol=1e-6 * (1 + np.abs(y1).max()))
    residual = c1 - A1 @ theta
    on = np.flatnonzero(active & (lam > 0))
    assert np.all(theta[~active] == 0.0)
    assert np.allclose(residual[on], lam[on] * np.sign(theta[on]), rtol=1e-8, atol=1e-12)
    assert np.all(np.abs(residual[~active]) <= lam[~active] * (1 + 1e-9) + 1e-14)
    block = A1[np.ix_(active, active)]
    eigenvalues = np.linalg.eigvalsh(block)
    assert eigenvalues[0] > 1e-10 * eigenvalues[-1]
    if factor is not None:
        b = rng.normal(size=A1.shape[0])
        expected = np.zeros_like(b)
        expected[active] = np.linalg.solve(block, b[active])
        assert np.allclose(factor.solve(b), expected, rtol=1e-8, atol=1e-10)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16), groups=st.integers(0, 3), alpha=st.floats(1e-4, 0.3))
def test_any_start_reaches_the_optimum(seed, groups, alpha):
    """From an arbitrary θ (a random support with random signs, not an optimum of
    anything) the search still ends at the optimum: the same objective value as from
    zero, to rounding."""
    rng = np.random.default_rng(seed)
    X, y = rank_deficient_design(rng, 50, 2, True, groups)
    _, A, c, lam = _problem(X, y, alpha)
    start = rng.normal(size=A.shape[0]) * rng.integers(0, 2, A.shape[0])
    theta, _ = l1.solve(A, c, lam, start, "Lasso")
    cold, _ = l1.solve(A, c, lam, np.zeros(A.shape[0]), "Lasso")
    f, f_cold = l1.objective(A, c, lam, np.stack([theta, cold]))
    assert abs(f - f_cold) <= 1e-12 * (1 + abs(f_cold))
