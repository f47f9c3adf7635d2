"""Micro-benchmarks of the attack's inner iteration: one ``Objective.evaluate`` with its
gradient (fit θ_p on the training set plus the candidate row, W, ∇_{x_p} W), and one
without it (a trial point of the line search: fit and W only).

Marked ``slow``, so the default run deselects them (pyproject's addopts has
``-m "not slow"``). Run them with

    python -m pytest -m slow tests/test_benchmark_inner.py

pytest-benchmark prints min/mean/median per case; compare runs with
``--benchmark-autosave`` and ``pytest-benchmark compare``. The whole-attack scaling
suite is ``benchmarks/bench_scaling.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Lasso, LogisticRegression, Ridge

from flexpoison import FlexiblePoisoning

N, D = 1_000, 8


def _data(task: str, n: int = N, d: int = D, seed: int = 0):
    """Standardised Gaussian features; y from a linear model (noisy / sampled)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X = (X - X.mean(0)) / X.std(0)
    w = np.linspace(1.5, -1.0, d)
    if task == "regression":
        return X, X @ w + 0.5 + 0.5 * rng.standard_normal(n)
    if task == "binary":
        return X, (rng.random(n) < 1 / (1 + np.exp(-(X @ w)))).astype(int)
    scores = X @ rng.normal(size=(d, 3)) + rng.gumbel(size=(n, 3))
    return X, scores.argmax(1)


CASES = {
    "ridge": (Ridge(alpha=1.0), "regression"),
    "lasso": (Lasso(alpha=0.05), "regression"),
    "logistic": (LogisticRegression(C=1.0), "binary"),
    "multinomial": (LogisticRegression(C=1.0), "multinomial"),
}


@pytest.mark.slow
@pytest.mark.parametrize("with_gradient", [True, False], ids=["gradient", "trial"])
@pytest.mark.parametrize("case", CASES)
def test_evaluate(benchmark, case, with_gradient):
    """One evaluation at n = 1000, d = 8, warm-started at θ₀ like Algorithm 1."""
    estimator, task = CASES[case]
    X, y = _data(task)
    objective = FlexiblePoisoning(estimator, random_state=0).objective(X, y)
    # a candidate as Algorithm 1 starts one: a clean row, label flipped (kept for
    # regression), moved off the row so that the fit has something to do
    x = X[0] + 0.5 * X.std(0)
    y_p = y[0] if task == "regression" else (y[0] + 1) % len(np.unique(y))
    x_enc, t = objective._point(x, y_p)

    evaluation = benchmark(
        objective.evaluate, x_enc, t, Theta_init=objective.Theta_start, with_gradient=with_gradient
    )

    assert np.isfinite(evaluation.W)
    if with_gradient:
        assert evaluation.grad_x.shape == (D,) and np.all(np.isfinite(evaluation.grad_x))
    else:
        assert evaluation.grad_x is None
    assert np.allclose(evaluation.theta, objective.theta(x, y_p))
