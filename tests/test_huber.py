"""HuberRegressor: its loss of (z₁, σ), the kink rule, refusals, and θ = (w, b, σ)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import HuberRegressor

from conftest import make_regression
from flexpoison import (
    FlexiblePoisoning,
    Integrity,
    InvalidInputError,
    LossAvailability,
    engine,
    models,
)
from flexpoison.errors import UnsupportedEstimatorError
from flexpoison.models.huber import exact_fit


def _scores(seed=3, n=40, epsilon=1.35):
    """Scores (z₁, σ) and targets with no row within 1e-3 of the kink |r| = εσ."""
    rng = np.random.default_rng(seed)
    z = np.column_stack([rng.normal(size=n), rng.uniform(0.5, 2.0, n)])
    t = z[:, 0] + rng.normal(scale=2.0, size=n)
    r = np.abs(t - z[:, 0])
    keep = np.abs(r - epsilon * z[:, 1]) > 1e-3
    return z[keep], t[keep]


def test_derivatives_match_finite_differences():
    """ℓ' is the gradient of ℓ, ℓ'' the Jacobian of ℓ', ∂ℓ'/∂t the t-derivative of ℓ',
    for inliers and outliers alike."""
    loss = engine.HuberLoss(1.35)
    z, t = _scores()
    inside = np.abs(t - z[:, 0]) <= 1.35 * z[:, 1]
    assert inside.any() and (~inside).any()
    h = 1e-6
    d1, d2 = loss.d1(z, t), loss.d2(z, t)
    for k in range(2):
        step = np.zeros(2)
        step[k] = h
        fd1 = (loss.value(z + step, t) - loss.value(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d1[:, k], fd1, rtol=1e-7, atol=1e-8)
        fd2 = (loss.d1(z + step, t) - loss.d1(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d2[:, :, k], fd2, rtol=1e-6, atol=1e-8)
    fdt = (loss.d1(z, t + h) - loss.d1(z, t - h)) / (2 * h)
    np.testing.assert_allclose(loss.d1_dt(z, t), fdt, rtol=1e-6, atol=1e-8)


def test_value_is_infinite_without_a_positive_scale_and_the_kink_is_an_inlier():
    loss = engine.HuberLoss(1.5)
    z = np.array([[0.0, 0.0], [0.0, -1.0], [0.0, 2.0]])
    t = np.array([1.0, 1.0, 3.0])  # the last row: |r| = 3 = εσ exactly
    value = loss.value(z, t)
    assert np.isinf(value[:2]).all() and np.isfinite(value[2])
    assert value[2] == pytest.approx(2.0 + 9.0 / 2.0)  # the quadratic branch
    assert loss.d2(z, t)[2, 0, 0] == pytest.approx(1.0)  # ℓ'' = 2/σ, one-sided rule


@pytest.mark.parametrize(
    "params, message",
    [
        ({"epsilon": 1.0}, "epsilon=1 leaves the scale"),
        ({"epsilon": 0.5}, "epsilon must be ≥ 1"),
        ({"fit_intercept": False}, "fit_intercept=False is not supported"),
        ({"alpha": -1.0}, "alpha must be ≥ 0"),
    ],
)
def test_unsupported_settings_are_refused_by_name(params, message):
    X, y = make_regression()
    with pytest.raises(UnsupportedEstimatorError, match=f"^HuberRegressor: {message}"):
        FlexiblePoisoning(HuberRegressor(**params), n_points=1, random_state=0).generate(X, y)


def test_theta_ends_with_the_scale_and_presets_leave_it_alone():
    X, y = make_regression()
    estimator = HuberRegressor(epsilon=1.5, alpha=0.5)
    attack = FlexiblePoisoning(estimator, goal=Integrity(), n_points=1, max_iter=3, random_state=0)
    result = attack.generate(X, y)
    fitted = exact_fit(estimator, X, y)
    theta = models.theta_of(fitted)
    assert theta.size == X.shape[1] + 2 and theta[-1] == fitted.scale_
    np.testing.assert_allclose(result.theta_clean, theta, rtol=1e-9)
    assert result.theta_target[-1] == result.theta_clean[-1]
    victim = models.victim(estimator, y)
    assert victim.theta_names(list("abcd")) == [*(f"w[{c}]" for c in "abcd"), "b", "scale"]
    np.testing.assert_allclose(victim.predict(theta, X), fitted.predict(X), rtol=1e-12)
    with pytest.raises(InvalidInputError, match="^target: .*d=4 \\+ intercept\\) \\+ 1"):
        FlexiblePoisoning(
            estimator, goal=Integrity(np.zeros(5)), n_points=1, random_state=0
        ).generate(X, y)


def test_a_fit_from_outside_the_domain_restarts_and_reaches_the_optimum():
    """Θ = 0 has σ = 0 (ℓ = +∞): the solver starts from the median and spread instead."""
    X, y = make_regression()
    estimator = HuberRegressor(epsilon=1.5, alpha=0.5)
    victim = models.victim(estimator, y)
    learner = victim.learner
    data = engine.RowData(learner.features(X, np.zeros(X.shape[1])), victim.encode(y))
    fit = engine.fit(learner, data, np.zeros((2, X.shape[1] + 1)))
    np.testing.assert_allclose(
        learner.pack(fit.Theta), models.theta_of(exact_fit(estimator, X, y)), rtol=1e-9
    )
    assert np.all(fit.Theta[1, :-1] == 0.0)  # the pinned weights stay at 0


@pytest.mark.parametrize("c", [1.0, 0.0, -3.0])
def test_constant_responses_are_refused_for_their_real_cause(c):
    """Every y equal: w = 0, b = c fits every row, σ collapses to 0 (not a scale problem)."""
    X = np.random.default_rng(0).normal(size=(50, 3))
    attack = FlexiblePoisoning(
        HuberRegressor(), goal=LossAvailability(), alpha=0.0, n_points=2, random_state=0
    )
    message = (
        rf"^y: every response is {c:g}, so HuberRegressor fits a scale σ of the residuals "
        rf"with the model, and the model w = 0, b = {c:g} leaves every residual 0: σ "
        r"shrinks to 0, .* attack rows whose responses vary, or a victim without a "
        r"fitted scale \(e\.g\. ridge regression\)$"
    )
    with pytest.raises(InvalidInputError, match=message):
        attack.generate(X, np.full(50, c))
