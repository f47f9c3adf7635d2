"""Algorithm 1: the paper's initial points, goals, step rules, options and outputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from conftest import make_classification, make_regression, tight
from flexpoison import Availability, FlexiblePoisoning, Integrity

# Per-learner properties of Algorithm 1 (feasibility, descent, θ_p = scikit-learn,
# reproducibility) are checked for every registered victim in test_contract.py.


def test_initial_point_follows_the_paper():
    """Regression keeps the cloned row's response; classification flips its label."""
    X, y = make_regression()
    r = FlexiblePoisoning(Ridge(), n_points=3, random_state=1).generate(X, y)
    assert set(r.y_poison.tolist()) <= set(y.tolist())
    Xc, yc = make_classification()
    rng = np.random.default_rng(1)
    rows = [int(rng.integers(len(yc))) for _ in range(1)]
    r = FlexiblePoisoning(LogisticRegression(), n_points=1, random_state=1,
                          max_iter=3).generate(Xc, yc)
    assert r.y_poison[0] == 1 - yc[rows[0]]


def test_poisoning_moves_the_model_toward_the_target():
    X, y = make_regression(n=100)
    r = FlexiblePoisoning(Ridge(), goal=Integrity("flip-top"), alpha=0.0, rate=0.2,
                          random_state=0).generate(X, y)
    assert r.n_points == 20
    assert r.effect_history[-1] < 0.7 * r.effect_clean
    assert np.all(np.diff(r.effect_history) < 0)


def test_availability_moves_the_model_away():
    X, y = make_classification(n=100)
    r = FlexiblePoisoning(LogisticRegression(), goal=Availability(), alpha=0.0,
                          n_points=10, random_state=0).generate(X, y)
    assert r.effect_clean == 0.0
    assert r.effect_history[-1] > r.effect_history[0] > 0


def test_paper_step_rule_runs_feasibly(recorded_points):
    X, y = make_regression()
    r = FlexiblePoisoning(Ridge(), step="paper", n_points=2, max_iter=15,
                          random_state=0).generate(X, y)
    assert all(np.all((x >= r.lower) & (x <= r.upper)) for x in recorded_points)
    assert r.settings["step"] == "paper"


def test_optimize_y_stays_in_observed_range_and_helps():
    X, y = make_regression()
    kw = dict(goal=Integrity(), alpha=0.2, n_points=3, random_state=0)
    fixed = FlexiblePoisoning(Ridge(), **kw).generate(X, y)
    free = FlexiblePoisoning(Ridge(), optimize_y=True, **kw).generate(X, y)
    assert np.all((free.y_poison >= y.min()) & (free.y_poison <= y.max()))
    assert free.W_history[0][-1] <= fixed.W_history[0][-1] + 1e-12
    assert free.W_history[0][-1] < free.W_history[0][0]


def test_user_bounds_intersect_the_box():
    X, y = make_regression()
    lower = np.full(X.shape[1], -np.inf)
    upper = X.mean(0)  # only the lower half-box is allowed
    r = FlexiblePoisoning(Ridge(), n_points=3, bounds=(lower, upper),
                          random_state=0).generate(X, y)
    assert np.all(r.X_poison <= upper)
    assert np.allclose(r.upper, upper)


def test_output_keeps_float32_dtype_and_string_labels():
    X, y = make_classification()
    labels = np.array(["benign", "malignant"])[y]
    r = FlexiblePoisoning(LogisticRegression(), n_points=2, max_iter=5,
                          random_state=0).generate(X.astype(np.float32), labels)
    assert r.X_poison.dtype == np.float32
    assert set(r.y_poison.tolist()) <= {"benign", "malignant"}


def test_multinomial_flips_to_another_class():
    X, y = make_classification(k=3)
    r = FlexiblePoisoning(LogisticRegression(), n_points=6, max_iter=5,
                          random_state=0).generate(X, y)
    assert r.theta_clean.shape == (3 * (X.shape[1] + 1),)
    rng = np.random.default_rng(0)  # replay the attack's draws: a row, then its new class
    for label in r.y_poison:
        row = int(rng.integers(len(y)))
        rng.choice([k for k in range(3) if k != y[row]])
        assert label != y[row] and label in (0, 1, 2)


def test_stopping_rule_uses_the_relative_tolerance():
    X, y = make_regression()
    loose = FlexiblePoisoning(Ridge(), n_points=4, tol=10.0, random_state=0).generate(X, y)
    tight_ = FlexiblePoisoning(Ridge(), n_points=4, tol=1e-12, random_state=0).generate(X, y)
    assert np.all(loose.n_iter == 1)  # |ΔW| < 10·|W| after any first step
    assert tight_.n_iter.mean() > 3


def test_paper_step_is_one_over_i(recorded_points):
    X, y = make_regression()
    attack = FlexiblePoisoning(Ridge(), step="paper", alpha=0.5, n_points=1, max_iter=3,
                               tol=1e-15, random_state=0)
    r = attack.generate(X, y)
    obj = attack.objective(X, y)
    xs = recorded_points[:4]  # initial point, then one evaluation per iteration
    for i in (1, 2, 3):
        grad = obj.gradient(xs[i - 1], r.y_poison[0])
        expected = np.clip(xs[i - 1] - grad / i, r.lower, r.upper)
        assert np.allclose(xs[i], expected, rtol=1e-9, atol=1e-12)


def test_loss_availability_raises_the_validation_loss():
    from flexpoison import LossAvailability
    X, y = make_classification(n=120, seed=4)
    X_val, y_val = X[80:], y[80:]
    goal = LossAvailability(X_eval=X_val, y_eval=y_val)
    r = FlexiblePoisoning(LogisticRegression(), goal=goal, alpha=0.0, n_points=8,
                          random_state=0).generate(X[:80], y[:80])
    clean = tight(LogisticRegression()).fit(X[:80], y[:80])
    poisoned = tight(LogisticRegression()).fit(np.vstack([X[:80], r.X_poison]),
                                               np.append(y[:80], r.y_poison))
    from sklearn.metrics import log_loss
    before = log_loss(y_val, clean.predict_proba(X_val))
    after = log_loss(y_val, poisoned.predict_proba(X_val))
    assert r.effect_clean == pytest.approx(before, rel=1e-6)
    assert after > before
    assert r.effect_history[-1] == pytest.approx(after, rel=1e-4)
