"""Pipelines as victims: an affine scaler refitted on the poisoned rows, then a model.

The victim is the whole pipeline, refitted by scikit-learn on clean + poison rows; θ is
its linear function in the user's units. Gradients are checked against central finite
differences of W computed from tight scikit-learn refits of the pipeline, θ_p against
a refit, and the poison rows lie in the raw data's box.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, PolynomialFeatures, StandardScaler

from flexpoison import Availability, FlexiblePoisoning, Integrity, LossAvailability
from flexpoison.cli import main
from flexpoison.errors import UnsupportedEstimatorError
from flexpoison.scalers import (
    FIXED_SCALER,
    REFITTED_SCALER,
    ColumnStats,
    Scaler,
    _chain_scale,
    read_scaler,
    scale_and_slope,
)

SCALERS = [StandardScaler(), MinMaxScaler(feature_range=(-1, 2)), MaxAbsScaler()]
TIGHT = {
    "Ridge": {"solver": "cholesky"},
    "Lasso": {"tol": 1e-14, "max_iter": 1_000_000},
    "ElasticNet": {"tol": 1e-14, "max_iter": 1_000_000},
    "LogisticRegression": {"tol": 1e-13, "max_iter": 100_000, "solver": "newton-cholesky"},
}


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True, scaled=False)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:200, :6], y[:200]


def _tight(pipe):
    pipe = clone(pipe)
    model = pipe.steps[-1][1]
    model.set_params(**TIGHT[type(model).__name__])
    return pipe


def _raw_theta(fitted, d: int) -> np.ndarray:
    """The fitted pipeline's linear function in raw units, flat (w…, b)."""
    score = fitted.decision_function if hasattr(fitted, "decision_function") else fitted.predict
    b = float(np.ravel(score(np.zeros((1, d))))[0])
    w = np.ravel(score(np.eye(d))) - b
    return np.append(w, b) if fitted.steps[-1][1].fit_intercept else w


def _refit_theta(pipe, X, y, x, t) -> np.ndarray:
    fitted = _tight(pipe).fit(np.vstack([X, x[None]]), np.append(y, t))
    return _raw_theta(fitted, X.shape[1])


def _check_gradient(pipe, goal, X, y, x, t, alpha=0.3, rtol=1e-5):
    attack = FlexiblePoisoning(_tight(pipe), goal=goal, alpha=alpha, random_state=0)
    objective = attack.objective(X, y)
    grad = objective.gradient(x, t)
    theta0 = _raw_theta(_tight(pipe).fit(X, y), X.shape[1])
    reference = objective.theta_reference
    np.testing.assert_allclose(
        objective.theta(x, t),
        _refit_theta(pipe, X, y, x, t),
        rtol=1e-7,
        atol=1e-9 * np.abs(theta0).max(),
    )
    sign = goal.sign

    def W(z):
        theta = _refit_theta(pipe, X, y, z, t)
        E = (
            float(np.sum((theta - reference) ** 2))
            if goal.kind == "integrity"
            else float(np.sum((theta - theta0) ** 2))
        )
        return alpha * float(np.sum((z - objective.x_c) ** 2)) + sign * (1 - alpha) * E

    steps = 1e-5 * X.std(axis=0)
    fd = np.array(
        [(W(x + h * e) - W(x - h * e)) / (2 * h) for h, e in zip(steps, np.eye(X.shape[1]))]
    )
    np.testing.assert_allclose(grad, fd, rtol=rtol, atol=rtol * np.abs(fd).max())
    return grad


def _beyond(X):
    """A row beyond the data's max in even features and below its min in odd ones, so
    that MinMax and MaxAbs scales depend on it."""
    low, high = X.min(axis=0), X.max(axis=0)
    span = high - low
    x = X.mean(axis=0).copy()
    x[0::2] = high[0::2] + 0.2 * span[0::2]
    x[1::2] = low[1::2] - 0.15 * span[1::2]
    return x


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(
    "model",
    [Ridge(alpha=3.0), Lasso(alpha=0.5), ElasticNet(alpha=0.3, l1_ratio=0.4)],
    ids=lambda m: type(m).__name__,
)
@pytest.mark.parametrize("goal", [Integrity(), Availability()], ids=lambda g: g.kind)
def test_the_regression_pipeline_gradient_matches_refits(diabetes, scaler, model, goal):
    X, y = diabetes
    pipe = make_pipeline(clone(scaler), clone(model))
    _check_gradient(pipe, goal, X, y, _beyond(X), 300.0)
    _check_gradient(pipe, goal, X, y, X[7] + 0.1 * X.std(axis=0), 120.0)  # inside the range


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda s: type(s).__name__)
def test_the_logistic_pipeline_gradient_matches_refits(cancer, scaler):
    X, y = cancer
    pipe = make_pipeline(clone(scaler), LogisticRegression(C=0.5))
    _check_gradient(pipe, Integrity(), X, y, _beyond(X), 1)
    _check_gradient(pipe, Availability(), X, y, X[3] + 0.2 * X.std(axis=0), 0)


def test_the_scale_term_matters(diabetes):
    """Without the scaler's dependence on the poison row the gradient would differ: the
    refit check above could not pass by accident."""
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=30.0))
    objective = FlexiblePoisoning(pipe, goal=Availability(), alpha=0.0, random_state=0).objective(
        X, y
    )
    x = _beyond(X)
    ev = objective.evaluate(x, 300.0)
    learner, slope = objective.learner_at(x)
    assert slope is not None and np.abs(slope).max() > 0
    term = objective._scale_term(
        learner, ev.fit, objective.effect.gradient(ev.fit.Theta, ev.theta), slope
    )
    assert np.abs(term).max() > 1e-3 * np.abs(ev.grad_x).max()


RIDGE_SCALERS = [*SCALERS, (StandardScaler(), MaxAbsScaler())]


def scaled_cases(test):
    """Parametrize ``test`` over every scaler chain of RIDGE_SCALERS before each
    squared-residual model (the scaled solver's cases)."""
    models = pytest.mark.parametrize(
        "model",
        [Ridge(alpha=3.0), Lasso(alpha=0.5), ElasticNet(alpha=0.3, l1_ratio=0.4)],
        ids=lambda m: type(m).__name__,
    )
    return pytest.mark.parametrize("scalers", RIDGE_SCALERS, ids=repr)(models(test))


def _pipe(scalers, model):
    chain = scalers if isinstance(scalers, tuple) else (scalers,)
    return make_pipeline(*[clone(s) for s in chain], clone(model))


def _general(objective):
    """The same objective answered by the general solver (the scaled solver off)."""
    general = objective.effect_gain(0.0)
    general.alpha, general.E_ref = objective.alpha, objective.E_ref
    general._scaled = None
    return general


@scaled_cases
def test_a_pipeline_is_solved_by_the_scaled_solver_as_by_the_general_one(diabetes, scalers, model):
    """Squared-residual pipelines take the scaled solver (so that the refit checks
    above test it), which agrees with the general solver on θ_p, W and the gradients
    in x and y; with L1, from a warm start on the optimum's support, and a warm start
    with every sign wrong is refused and left to the general solver."""
    X, y = diabetes
    pipe = _pipe(scalers, model)
    objective = FlexiblePoisoning(
        pipe, goal=LossAvailability(), alpha=0.2, random_state=0
    ).objective(X, y)
    assert objective._scaled is not None
    general = _general(objective)
    for x, t in ((_beyond(X), 300.0), (X[5] + 0.1 * X.std(axis=0), 80.0)):
        ref = general.evaluate(x, t, with_y=True)
        ev = objective.evaluate(x, t, with_y=True, Theta_init=ref.fit.Theta)
        assert ev._scaled is not None and ref._scaled is None
        np.testing.assert_allclose(ev.theta, ref.theta, rtol=1e-9, atol=1e-12)
        assert ev.W == pytest.approx(ref.W, rel=1e-9)
        np.testing.assert_allclose(ev.grad_x, ref.grad_x, rtol=1e-7, atol=1e-9)
        assert ev.grad_y == pytest.approx(ref.grad_y, rel=1e-7)
        if not isinstance(model, Ridge):  # an L1 term: the warm start's support
            wrong = ref.fit.Theta.copy()
            wrong[0, :-1] *= -1.0
            assert np.any(wrong[0, :-1] != 0)
            refused = objective.evaluate(x, t, with_y=True, Theta_init=wrong)
            assert refused._scaled is None
            np.testing.assert_allclose(refused.theta, ref.theta, rtol=1e-9, atol=1e-12)


def _loss_of_refit(pipe, X, y, x, t) -> float:
    """E_L of the refitted pipeline on the clean rows: (c/2)·mean (f(x_i) − y_i)²."""
    fitted = _tight(pipe).fit(np.vstack([X, x[None]]), np.append(y, t))
    return float(np.mean((fitted.predict(X) - y) ** 2))  # c = 2 for the squared loss


@scaled_cases
def test_loss_availability_gradients_of_a_scaled_pipeline_match_refits(diabetes, scalers, model):
    """The scaled solver's own E (the observed quadratic) and its gradients in x and y
    against central differences of the loss of tight scikit-learn refits (an L1 model
    warm-started on the optimum's support, so that the scaled solver answers)."""
    X, y = diabetes
    pipe = _pipe(scalers, model)
    alpha = 0.3
    objective = FlexiblePoisoning(
        _tight(pipe), goal=LossAvailability(), alpha=alpha, random_state=0
    ).objective(X, y)
    assert objective.victim.learner.loss.curvature == 2.0  # ℓ = (z − t)², as E_L below
    general = _general(objective)
    sign = objective.goal.sign

    def W(z, t):
        E = _loss_of_refit(pipe, X, y, z, t)
        return alpha * float(np.sum((z - objective.x_c) ** 2)) + sign * (1 - alpha) * E

    for x, t in ((_beyond(X), 310.0), (X[9] - 0.2 * X.std(axis=0), 60.0)):
        start = general.evaluate(x, t, with_gradient=False).fit.Theta
        ev = objective.evaluate(x, t, with_y=True, Theta_init=start)
        assert ev._scaled is not None
        assert ev.W == pytest.approx(W(x, t), rel=1e-9)
        steps = 1e-5 * X.std(axis=0)
        fd = np.array(
            [
                (W(x + h * e, t) - W(x - h * e, t)) / (2 * h)
                for h, e in zip(steps, np.eye(X.shape[1]))
            ]
        )
        np.testing.assert_allclose(ev.grad_x, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())
        h = 1e-4 * y.std()
        fd_y = (W(x, t + h) - W(x, t - h)) / (2 * h)
        assert ev.grad_y == pytest.approx(fd_y, rel=1e-5)


ONE_STAGE = [
    StandardScaler(),
    StandardScaler(with_mean=False),
    StandardScaler(with_std=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-1, 2)),
    MaxAbsScaler(),
]


@pytest.mark.parametrize("stage", ONE_STAGE, ids=repr)
@pytest.mark.parametrize("where", ["none", "inside", "beyond", "tie", "opposite"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_one_scaler_in_closed_form_equals_the_chain_rule(stage, where, seed):
    """scale_and_slope's closed forms for one scaler give what the stage-by-stage chain
    rule gives: v and ∂v/∂x_p, rows inside and beyond the range, ties with the extreme
    rows (slope 0), a column whose negative side is the larger, a constant column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, 4)) * [1.0, 10.0, 0.1, 0.0] + [0.0, -3.0, 5.0, 2.0]
    low, high = X.min(axis=0), X.max(axis=0)
    x = {
        "none": None,
        "inside": X.mean(axis=0),
        "beyond": np.where(rng.random(4) < 0.5, high + rng.random(4), low - rng.random(4)),
        "tie": np.where(rng.random(4) < 0.5, high, low),
        "opposite": -2.0 * np.abs(X).max(axis=0) - 1.0,
    }[where]
    scaler, stats = Scaler((read_scaler(stage),)), ColumnStats.of(X)
    v, slope = scale_and_slope(scaler, stats, x)
    v_chain, slope_chain = _chain_scale(scaler, stats, x)
    np.testing.assert_allclose(v, v_chain, rtol=1e-12)
    np.testing.assert_allclose(slope, slope_chain, rtol=1e-12, atol=1e-15)
    if x is not None:  # v is what scikit-learn divides by, z_j = (x_j − m_j) / v_j, on
        grown = np.vstack([X, x])  # the columns that vary (a constant one's w is 0)
        fitted = clone(stage).fit(grown)
        unit = np.diag(fitted.transform(np.eye(4)) - fitted.transform(np.zeros((1, 4))))
        varies = np.ptp(grown, axis=0) > 0
        np.testing.assert_allclose(v[varies], 1.0 / unit[varies], rtol=1e-12)


def test_a_diabetes_pipeline_attack_in_raw_units(diabetes):
    """The issue's case: Pipeline(StandardScaler(), Ridge()) on raw diabetes returns rows
    in raw units inside the raw 3σ box, θ_p equal to a refit of the pipeline, and
    poisoned_model() predicts exactly as clone(pipeline).fit(clean + poison)."""
    X, y = diabetes
    pipe = Pipeline([("scale", StandardScaler()), ("ridge", Ridge())])
    result = FlexiblePoisoning(
        pipe, goal=Availability(), alpha=0.5, n_points=8, max_iter=40, random_state=0
    ).generate(X, y)
    mean, sd = X.mean(axis=0), X.std(axis=0)
    assert np.all(result.X_poison >= mean - 3 * sd - 1e-9 * np.abs(mean))
    assert np.all(result.X_poison <= mean + 3 * sd + 1e-9 * np.abs(mean))
    assert np.all(result.lower == np.maximum(result.lower, mean - 3 * sd - 1e-6))
    Xa, ya = np.vstack([X, result.X_poison]), np.append(y, result.y_poison)
    refit = clone(pipe).fit(Xa, ya)
    model = result.poisoned_model()
    assert isinstance(model, Pipeline) and model is not pipe
    np.testing.assert_array_equal(model.predict(X), refit.predict(X))
    tight = _raw_theta(_tight(pipe).fit(Xa, ya), X.shape[1])
    np.testing.assert_allclose(
        result.theta_poisoned, tight, rtol=1e-6, atol=1e-6 * np.abs(tight).max()
    )
    assert result.progress > 0


def test_loss_availability_through_a_pipeline(cancer):
    X, y = cancer
    pipe = make_pipeline(MinMaxScaler(), LogisticRegression())
    result = FlexiblePoisoning(
        pipe, goal=LossAvailability(), alpha=0.0, n_points=3, max_iter=20, random_state=1
    ).generate(X, y)
    Xa, ya = np.vstack([X, result.X_poison]), np.append(y, result.y_poison)
    tight = _raw_theta(_tight(pipe).fit(Xa, ya), X.shape[1])
    np.testing.assert_allclose(
        result.theta_poisoned, tight, rtol=1e-6, atol=1e-6 * np.abs(tight).max()
    )
    assert result.effect_final > result.effect_clean


@pytest.mark.parametrize(
    ("pipe", "message"),
    [
        (make_pipeline(PolynomialFeatures(), Ridge()), "PolynomialFeatures is not a supported"),
        (make_pipeline(MinMaxScaler(clip=True), Ridge()), "clip=True"),
        (make_pipeline(StandardScaler(), Ridge(fit_intercept=False)), "constrains the intercept"),
        (make_pipeline(Ridge()), "one or more affine scalers"),
    ],
)
def test_unsupported_pipelines_are_refused_by_name(diabetes, pipe, message):
    X, y = diabetes
    with pytest.raises(UnsupportedEstimatorError, match=message):
        FlexiblePoisoning(pipe, n_points=1, random_state=0).generate(X, y)


CHAINS = [
    (StandardScaler(), MaxAbsScaler()),
    (MinMaxScaler(), StandardScaler()),
    (MaxAbsScaler(), MinMaxScaler(feature_range=(-2, 1))),
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: "-".join(type(s).__name__ for s in c))
def test_a_chain_of_scalers_is_one_affine_map_and_its_gradient_matches_refits(diabetes, chain):
    X, y = diabetes
    pipe = make_pipeline(*[clone(s) for s in chain], Ridge(alpha=3.0))
    _check_gradient(pipe, Availability(), X, y, _beyond(X), 300.0)
    _check_gradient(pipe, Integrity(), X, y, X[11] + 0.1 * X.std(axis=0), 90.0)


def test_a_scaler_without_centring_allows_a_model_without_intercept(diabetes):
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(with_mean=False), Ridge(fit_intercept=False))
    _check_gradient(pipe, Availability(), X, y, _beyond(X), 200.0)


def test_both_scaler_victims_are_described_in_one_set_of_words():
    """--standardize (a fixed scaler) and a Pipeline (refitted scalers) are two victims;
    the help of every command that standardises, and the README, use the same texts."""

    def flat(text: str) -> str:  # help wrapped anywhere, at a hyphen too; README's `…`
        return re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", text.replace("`", "")))

    attack = flat(CliRunner().invoke(main, ["attack", "--help"]).output)
    frontier = flat(CliRunner().invoke(main, ["frontier", "--help"]).output)
    assert FIXED_SCALER in attack and REFITTED_SCALER in attack
    assert FIXED_SCALER in frontier
    readme = flat((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8"))
    assert FIXED_SCALER in readme and REFITTED_SCALER in readme
