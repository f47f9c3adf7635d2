"""Per-row losses: derivatives against finite differences, softmax against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax

from flexpoison.engine.losses import (
    LogisticLoss,
    OneVsAllSquaredLoss,
    SoftmaxLoss,
    SquaredLoss,
    TweedieLoss,
)


def _rows(seed: int, n: int, K: int, scale: float):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((n, K)), rng


@pytest.mark.parametrize("K", [2, 3, 5, 20])
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 30.0, 700.0]))
def test_softmax_loss_matches_scipy(K, seed, scale):
    """Values, ℓ' and ℓ'' equal scipy's log_softmax/softmax, for large scores too."""
    z, rng = _rows(seed, 50, K, scale)
    t = rng.integers(0, K, 50).astype(float)
    loss = SoftmaxLoss(K)
    expected = -log_softmax(z, axis=1)[np.arange(50), t.astype(int)]
    np.testing.assert_allclose(loss.value(z, t), expected, rtol=1e-12, atol=1e-12)
    p = softmax(z, axis=1)
    onehot = np.eye(K)[t.astype(int)]
    np.testing.assert_allclose(loss.d1(z, t), p - onehot, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        loss.d2(z, t), p[:, :, None] * (np.eye(K) - p[:, None, :]), rtol=1e-12, atol=1e-15
    )


LOSSES = {
    "squared": (SquaredLoss(), lambda rng, n: rng.normal(size=n)),
    "logistic": (LogisticLoss(), lambda rng, n: rng.choice([-1.0, 1.0], n)),
    "softmax": (SoftmaxLoss(3), lambda rng, n: rng.integers(0, 3, n).astype(float)),
}


@pytest.mark.parametrize("name", LOSSES)
def test_derivatives_match_finite_differences(name):
    """ℓ' is the gradient of ℓ and ℓ'' the Jacobian of ℓ', by central differences."""
    loss, targets = LOSSES[name]
    K = loss.n_outputs
    z, rng = _rows(7, 40, K, 2.0)
    t = targets(rng, 40)
    h = 1e-6
    d1, d2 = loss.d1(z, t), loss.d2(z, t)
    for k in range(K):
        step = np.zeros(K)
        step[k] = h
        fd1 = (loss.value(z + step, t) - loss.value(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d1[:, k], fd1, rtol=1e-7, atol=1e-8)
        fd2 = (loss.d1(z + step, t) - loss.d1(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d2[:, :, k], fd2, rtol=1e-6, atol=1e-8)


THIRD = {
    "logistic": (LogisticLoss(), lambda rng, n: rng.choice([-1.0, 1.0], n)),
    "softmax": (SoftmaxLoss(3), lambda rng, n: rng.integers(0, 3, n).astype(float)),
    "one-vs-all": (OneVsAllSquaredLoss(3), lambda rng, n: rng.integers(0, 3, n).astype(float)),
    "poisson": (TweedieLoss(1.0), lambda rng, n: rng.poisson(2.0, n).astype(float)),
    "tweedie": (TweedieLoss(1.5), lambda rng, n: rng.gamma(2.0, 1.0, n)),
    "gamma": (TweedieLoss(2.0), lambda rng, n: rng.gamma(2.0, 1.0, n)),
}


@pytest.mark.parametrize("name", THIRD)
def test_third_derivative_and_curvature_rate(name):
    """ℓ‴ is the derivative of ℓ'' (central differences), and ℓ'' moves by at most the
    factor e^{±c‖Δ‖∞} its declared curvature rate c allows (on random directions v:
    vᵀℓ''(z + Δ)v against vᵀℓ''(z)v)."""
    loss, targets = THIRD[name]
    K = loss.n_outputs
    z, rng = _rows(11, 40, K, 2.0)
    t = targets(rng, 40)
    h = 1e-6
    d3 = loss.d3(z, t)
    for m in range(K):
        step = np.zeros(K)
        step[m] = h
        fd = (loss.d2(z + step, t) - loss.d2(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d3[:, :, :, m], fd, rtol=1e-6, atol=1e-8)
    c = loss.curvature_rate
    for _ in range(20):
        delta = rng.uniform(-0.5, 0.5, size=(40, K))
        v = rng.normal(size=K)
        before = np.einsum("k,ikl,l->i", v, loss.d2(z, t), v)
        after = np.einsum("k,ikl,l->i", v, loss.d2(z + delta, t), v)
        spread = np.exp(c * np.abs(delta).max(axis=1))
        assert np.all(after <= before * spread * (1 + 1e-12) + 1e-15)
        assert np.all(after >= before / spread * (1 - 1e-12) - 1e-15)


@settings(max_examples=200, deadline=None)
@given(z=st.floats(-800.0, 800.0), t=st.sampled_from([-1.0, 1.0]))
def test_logistic_scalar_derivatives_are_the_array_ones(z, t):
    """The float (ℓ', ℓ'') the local model's root finding reads: ℓ' equals the array
    method's, ℓ'' = σ(z)·σ(−z) to 1e-13 relative (the array form σ(z)·(1 − σ(z))
    loses digits in 1 − σ(z) for large |z|: only its absolute error is checked)."""
    from scipy.special import expit

    loss = LogisticLoss()
    d1, d2 = loss.scalar_d12(z, t)
    zz, tt = np.array([[z]]), np.array([t])
    assert d1 == pytest.approx(loss.d1(zz, tt)[0, 0], rel=1e-14, abs=1e-300)
    assert d2 == pytest.approx(expit(z) * expit(-z), rel=1e-13, abs=1e-300)
    assert d2 == pytest.approx(loss.d2(zz, tt)[0, 0, 0], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "loss, K", [(LogisticLoss(), 1), (SoftmaxLoss(2), 2), (SoftmaxLoss(3), 3), (SoftmaxLoss(7), 7)]
)
def test_curvature_max_bounds_the_curvature_and_is_reached(loss, K):
    """ℓ'''s largest eigenvalue stays within the declared ``curvature_max`` over scores
    out to ±30, and reaches it where two scores tie above the rest (σ = ½ for one
    output), so the bound the local model skips trials by is the tightest constant."""
    z, rng = _rows(5, 2000, K, 3.0)
    z[:200] *= 10.0
    t = rng.integers(0, K, 2000).astype(float) if K > 1 else rng.choice([-1.0, 1.0], 2000)
    top = np.linalg.eigvalsh(loss.d2(z, t)).max(axis=1)
    assert top.max() <= loss.curvature_max * (1 + 1e-12)
    tie = np.full((1, K), -40.0)
    tie[0, :2] = 0.0  # one output: z = 0
    assert np.linalg.eigvalsh(loss.d2(tie, t[:1])).max() == pytest.approx(loss.curvature_max)
