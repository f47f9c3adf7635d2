"""Algorithm 1: the paper's initial points, goals, step rules, options and outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from conftest import make_classification, make_regression, tight
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    Integrity,
    InvalidInputError,
    SingularHessianError,
)

# Per-learner properties of Algorithm 1 (feasibility, descent, θ_p = scikit-learn,
# reproducibility) are checked for every registered victim in test_contract.py.

# The paper's Algorithm 1 exactly: its W and one start per point.
PAPER = {"trade_off": "paper", "starts": 1}


def test_initial_point_follows_the_paper():
    """Regression keeps the cloned row's response; classification flips its label."""
    X, y = make_regression()
    r = FlexiblePoisoning(Ridge(), n_points=3, random_state=1, **PAPER).generate(X, y)
    assert set(r.y_poison.tolist()) <= set(y.tolist())
    Xc, yc = make_classification()
    rng = np.random.default_rng(1)
    rows = [int(rng.integers(len(yc))) for _ in range(1)]
    r = FlexiblePoisoning(
        LogisticRegression(), n_points=1, random_state=1, max_iter=3, **PAPER
    ).generate(Xc, yc)
    assert r.y_poison[0] == 1 - yc[rows[0]]


def test_poisoning_moves_the_model_toward_the_target():
    X, y = make_regression(n=100)
    r = FlexiblePoisoning(
        Ridge(), goal=Integrity("flip-top"), alpha=0.0, rate=0.2, random_state=0
    ).generate(X, y)
    assert r.n_points == 20
    assert r.effect_history[-1] < 0.7 * r.effect_clean
    assert np.all(np.diff(r.effect_history) < 0)


def test_availability_moves_the_model_away():
    X, y = make_classification(n=100)
    r = FlexiblePoisoning(
        LogisticRegression(), goal=Availability(), alpha=0.0, n_points=10, random_state=0
    ).generate(X, y)
    assert r.effect_clean == 0.0
    assert r.effect_history[-1] > r.effect_history[0] > 0


def test_paper_step_rule_runs_feasibly(recorded_points):
    X, y = make_regression()
    r = FlexiblePoisoning(Ridge(), step="paper", n_points=2, max_iter=15, random_state=0).generate(
        X, y
    )
    assert all(np.all((x >= r.lower) & (x <= r.upper)) for x in recorded_points)
    assert r.settings["step"] == "paper"


def test_optimize_y_stays_in_observed_range_and_helps():
    X, y = make_regression()
    kw = dict(goal=Integrity(), alpha=0.2, n_points=3, random_state=0, **PAPER)
    fixed = FlexiblePoisoning(Ridge(), **kw).generate(X, y)
    free = FlexiblePoisoning(Ridge(), optimize_y=True, **kw).generate(X, y)
    assert np.all((free.y_poison >= y.min()) & (free.y_poison <= y.max()))
    assert free.W_history[0][-1] <= fixed.W_history[0][-1] + 1e-12
    assert free.W_history[0][-1] < free.W_history[0][0]


def test_user_bounds_intersect_the_box():
    X, y = make_regression()
    lower = np.full(X.shape[1], -np.inf)
    upper = X.mean(0)  # only the lower half-box is allowed
    r = FlexiblePoisoning(Ridge(), n_points=3, bounds=(lower, upper), random_state=0).generate(X, y)
    assert np.all(r.X_poison <= upper)
    assert np.allclose(r.upper, upper)


def test_output_keeps_float32_dtype_and_string_labels():
    X, y = make_classification()
    labels = np.array(["benign", "malignant"])[y]
    r = FlexiblePoisoning(LogisticRegression(), n_points=2, max_iter=5, random_state=0).generate(
        X.astype(np.float32), labels
    )
    assert r.X_poison.dtype == np.float32
    assert set(r.y_poison.tolist()) <= {"benign", "malignant"}


def _float32_problems():
    """Raw breast-cancer features (scikit-learn's float32 logistic fit stops 0.99 of
    max |θ| away) and a Tweedie problem on features of mixed scales (2e-4 away)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import TweedieRegressor

    X, y = load_breast_cancer(return_X_y=True)
    yield LogisticRegression(max_iter=5000), X, y
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)) * np.array([1, 3, 10, 0.5])
    y = rng.gamma(2.0, np.exp(X @ np.array([0.15, -0.05, 0.01, 0.25])) / 2)
    yield TweedieRegressor(power=1.5), X, y


@pytest.mark.parametrize("problem", list(_float32_problems()), ids=["logistic", "tweedie"])
def test_float32_input_poisoned_model_fits_float64_rows_and_agrees_with_theta(problem):
    import pandas as pd
    from sklearn.base import clone

    from flexpoison.models import theta_of

    est, X, y = problem
    X32 = pd.DataFrame(X.astype(np.float32), columns=[f"f{j}" for j in range(X.shape[1])])
    r = FlexiblePoisoning(est, alpha=0.0, n_points=2, max_iter=5, random_state=0).generate(X32, y)
    assert r.X_poison.dtypes.eq(np.float32).all()
    assert not any("refit" in w for w in r.warnings)  # a tight float64 refit agrees

    def gap(theta):
        return np.max(np.abs(theta - r.theta_poisoned)) / max(1.0, np.max(np.abs(r.theta_poisoned)))

    # the returned float32 rows, upcast, are the rows θ_poisoned is the optimum of
    exact = clone(est).set_params(solver="newton-cholesky", tol=1e-12, max_iter=1000)
    r_exact = dataclasses.replace(r, estimator=exact)
    model = r_exact.poisoned_model()
    assert list(model.feature_names_in_) == list(X32.columns)
    assert gap(theta_of(model)) < 1e-9
    # scikit-learn fitting the float32 rows as they are does not get there
    stacked = pd.concat([X32, r.X_poison], ignore_index=True)
    in_float32 = clone(est).set_params(tol=1e-12, max_iter=100_000)
    in_float32.fit(stacked, np.r_[y, r.y_poison])
    assert in_float32.coef_.dtype == np.float32 and gap(theta_of(in_float32)) > 1e-4
    # the victim as given (its own tol) stops short too, but less in float64
    assert gap(theta_of(r.poisoned_model())) < gap(theta_of(in_float32))


def test_multinomial_flips_to_another_class():
    X, y = make_classification(k=3)
    r = FlexiblePoisoning(
        LogisticRegression(), n_points=6, max_iter=5, random_state=0, **PAPER
    ).generate(X, y)
    assert r.theta_clean.shape == (3 * (X.shape[1] + 1),)
    rng = np.random.default_rng(0)  # replay the attack's draws: a row, then its new class
    for label in r.y_poison:
        row = int(rng.integers(len(y)))
        rng.choice([k for k in range(3) if k != y[row]])
        assert label != y[row] and label in (0, 1, 2)


def test_stopping_rule_uses_the_relative_tolerance():
    X, y = make_regression()
    loose = FlexiblePoisoning(Ridge(), n_points=4, tol=10.0, random_state=0, **PAPER).generate(X, y)
    tight_ = FlexiblePoisoning(Ridge(), n_points=4, tol=1e-12, random_state=0, **PAPER).generate(
        X, y
    )
    assert np.all(loose.n_iter == 1)  # |ΔW| < 10·|W| after any first step
    assert tight_.n_iter.mean() > 3


def test_paper_step_is_one_over_i(recorded_points):
    X, y = make_regression()
    attack = FlexiblePoisoning(
        Ridge(), step="paper", alpha=0.5, n_points=1, max_iter=3, tol=1e-15, random_state=0, **PAPER
    )
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
    r = FlexiblePoisoning(
        LogisticRegression(), goal=goal, alpha=0.0, n_points=8, random_state=0
    ).generate(X[:80], y[:80])
    clean = tight(LogisticRegression()).fit(X[:80], y[:80])
    poisoned = tight(LogisticRegression()).fit(
        np.vstack([X[:80], r.X_poison]), np.append(y[:80], r.y_poison)
    )
    from sklearn.metrics import log_loss

    before = log_loss(y_val, clean.predict_proba(X_val))
    after = log_loss(y_val, poisoned.predict_proba(X_val))
    assert r.effect_clean == pytest.approx(before, rel=1e-6)
    assert after > before
    assert r.effect_history[-1] == pytest.approx(after, rel=1e-4)


# ---------------------------------------------------- hardening: no hang, no NaN, no drift


def test_an_overflowing_box_is_refused_instead_of_looping(tmp_path):
    """n_sigma·σ near 1e154 once made the box diagonal infinite and the line search
    loop for ever; the box is now refused, and every line search is bounded. Run in a
    subprocess so that a regression fails the test instead of hanging the suite."""
    import subprocess
    import sys

    code = (
        "import numpy as np; from sklearn.linear_model import Ridge; "
        "from flexpoison import FlexiblePoisoning, InvalidInputError\n"
        "X = np.random.default_rng(0).normal(size=(40, 3))\n"
        "try:\n"
        "    attack = FlexiblePoisoning(Ridge(), n_points=1, n_sigma=1e154)\n"
        "    attack.generate(X, X @ [1., -2, .5])\n"
        "except InvalidInputError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("n_sigma: the 1e+154σ box of feature")
    X, y = make_regression(n=40, d=3)  # a large box that fits still works, and ends
    r = FlexiblePoisoning(Ridge(), n_points=2, n_sigma=1e100, max_iter=5, random_state=0).generate(
        X, y
    )
    assert np.all(np.isfinite(r.X_poison)) and np.all(np.isfinite(r.theta_poisoned))


def test_float32_rows_are_inside_the_box_and_are_the_rows_theta_was_computed_on():
    """Points used to be projected in float64 and cast afterwards: about half the
    float32 runs returned rows one ulp outside the box, which the 3σ sanitizer then
    caught, and θ_p did not match a fit on the rows returned."""
    from flexpoison.defences import ThreeSigma

    X, y = make_regression(n=60, d=4)
    X32 = X.astype(np.float32)
    for seed in range(8):
        r = FlexiblePoisoning(
            Ridge(), alpha=0.0, n_points=5, random_state=seed, max_iter=20
        ).generate(X32, y)
        assert r.X_poison.dtype == np.float32
        assert np.all(r.X_poison >= r.lower) and np.all(r.X_poison <= r.upper)
        rows = np.vstack([X32, r.X_poison]).astype(np.float64)
        theta = tight(Ridge()).fit(rows, np.append(y, r.y_poison))
        refit = np.append(theta.coef_, theta.intercept_)
        np.testing.assert_allclose(r.theta_poisoned, refit, rtol=1e-9, atol=1e-12)
        kept = ThreeSigma()(
            np.vstack([X32, r.X_poison]),
            np.append(y, r.y_poison),
            X_clean=X32,
            y_clean=y,
            task="regression",
        )
        assert set(range(60, 65)) <= set(kept.tolist())  # no poison row caught


@pytest.mark.parametrize("case", ["X", "y", "x_p"])
def test_values_whose_squares_overflow_are_refused_with_the_remedy(case):
    """X of 1e154, y of 1e300 or a candidate at 1e200 gave NaN θ, W and E with only a
    RuntimeWarning; each is now one error naming the scale and the remedy."""
    X, y = make_regression(n=40, d=3)
    attack = FlexiblePoisoning(Ridge(), n_points=1, random_state=0)
    with pytest.raises(
        InvalidInputError,
        match=rf"^{case}: values up to .* too large.*"
        r"rescale",
    ):
        if case == "X":
            attack.generate(X * 1e154, y)
        elif case == "y":
            attack.generate(X, y + 1e300)
        else:
            attack.objective(X, y).value(np.full(3, 1e200), 1.0)


def test_a_target_of_strings_is_an_error_naming_target():
    X, y = make_regression(n=40, d=3)
    with pytest.raises(InvalidInputError, match="^target: expected a preset name or a flat"):
        FlexiblePoisoning(
            Ridge(), goal=Integrity(target=["a", "b", "c", "d"]), n_points=1, random_state=0
        ).generate(X, y)


def test_refusals_name_the_real_cause():
    """Precision, scale and collinearity are told apart (they used to share one
    message: "constant (σ = 0)" or "collinear")."""
    from sklearn.linear_model import ElasticNet, LinearRegression

    X, y = make_regression(n=40, d=3)
    tiny = X.copy()
    tiny[:, 1] = 50.0 + 1e-12 * np.arange(40)
    with pytest.raises(
        InvalidInputError, match="feature 1 varies by σ = .*below float64's precision.*standardise"
    ):
        FlexiblePoisoning(Ridge(), n_points=1, random_state=0).generate(tiny, y)
    with pytest.raises(SingularHessianError, match="collinear"):
        FlexiblePoisoning(LinearRegression(), n_points=1, random_state=0).generate(
            np.column_stack([X, 2 * X[:, 0]]), y
        )
    with pytest.raises(SingularHessianError, match="fewer than the model's parameters"):
        FlexiblePoisoning(LinearRegression(), n_points=1, random_state=0).generate(X[:3], y[:3])
    # unscaled features without an intercept: the L1 solver ends at once (it took
    # 1.5–39 s before refusing), at an optimum at least as good as scikit-learn's
    scaled = X * [1e-3, 1.0, 1e3] + [500.0, -400.0, 900.0]
    r = FlexiblePoisoning(
        ElasticNet(alpha=0.5, l1_ratio=0.8, fit_intercept=False),
        n_points=2,
        max_iter=5,
        random_state=0,
    ).generate(scaled, y)
    assert np.all(np.isfinite(r.theta_poisoned))


def test_at_most_one_poison_row_per_clean_row():
    X, y = make_regression(n=30, d=3)
    for kw in ({"rate": 1.5}, {"n_points": 31}):
        with pytest.raises(InvalidInputError, match="at most one poison row per clean row"):
            FlexiblePoisoning(Ridge(), **kw).generate(X, y)
    assert (
        FlexiblePoisoning(Ridge(), rate=1.0, max_iter=2, random_state=0).generate(X, y).n_points
        == 30
    )


def test_small_problems_run_on_one_blas_thread():
    """The attack's many small solves run on one BLAS thread (a busy machine's threads
    wait for each other); large problems keep the BLAS's own setting."""
    from threadpoolctl import threadpool_info

    from flexpoison._threads import one_blas_thread_when_small, small_problem

    def blas_threads():
        return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    class Probe:
        @one_blas_thread_when_small
        def run(self, X):
            return blas_threads()

    own = blas_threads()
    assert Probe().run(np.zeros((300, 274))) == 1
    assert Probe().run(np.broadcast_to(0.0, (10, 2000))) == own  # 2,000 features
    assert Probe().run(np.broadcast_to(0.0, (10**6, 50))) == own  # 5·10⁷ values
    assert Probe().run([[1.0, 2.0], [3.0]]) == own  # ragged: left to the method's checks
    assert blas_threads() == own  # restored
    assert small_problem(10**5, 100) and not small_problem(10**5, 101)
    assert FlexiblePoisoning.generate.__wrapped__  # the attack is wrapped


def test_one_blas_thread_builds_one_controller(monkeypatch):
    """One BLAS thread inside, the setting restored after, and one threadpoolctl
    controller for every use (building one costs ~5 ms: a 50k-row attack paid it twice)."""
    import threadpoolctl

    from flexpoison import _threads

    built = []
    real = threadpoolctl.ThreadpoolController

    def counting():
        built.append(1)
        return real()

    monkeypatch.setattr(_threads, "_CONTROLLER", [])
    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", counting)

    def blas_threads():  # by a controller of its own, not counted
        return max(i["num_threads"] for i in real().info() if i["user_api"] == "blas")

    own = blas_threads()
    for _ in range(3):
        with _threads.one_blas_thread():
            assert blas_threads() == 1
        assert blas_threads() == own
    assert len(built) == 1
