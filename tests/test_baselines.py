"""Baseline attacks: budget, shapes, seeds, what each one does to the rows, and the
unconcealed optimiser against random clones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)

from conftest import make_classification, make_glm_responses, make_regression, sklearn_theta
from flexpoison import Availability, Integrity
from flexpoison.attack.baselines import (
    BaselineResult,
    extreme_response,
    label_flip,
    random_clone,
    unconcealed,
)
from flexpoison.errors import InvalidInputError, UnsupportedEstimatorError

_X, _Y = make_regression(n=50)
CASES = {  # name: (estimator, data, task)
    "ridge": (Ridge(alpha=1.0), make_regression(n=50), "regression"),
    "binary": (LogisticRegression(), make_classification(n=50), "classification"),
    "multinomial": (LogisticRegression(), make_classification(n=60, k=3), "classification"),
    # no predict_proba: label_flip scores with the victim's own loss
    "one-vs-all": (RidgeClassifier(), make_classification(n=60, k=3), "classification"),
    "poisson": (PoissonRegressor(alpha=0.1), (_X, make_glm_responses(_X, _Y)), "regression"),
}


def run(baseline, case, m=5, seed=0):
    est, (X, y), task = CASES[case]
    if baseline == "random_clone":
        return random_clone(X, y, m, task, random_state=seed)
    if baseline == "label_flip":
        return label_flip(est, X, y, m, task, random_state=seed)
    return unconcealed(est, X, y, m, random_state=seed, max_iter=15)


BASELINES = ["random_clone", "label_flip", "unconcealed"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("baseline", BASELINES)
def test_budget_shapes_and_seeds(baseline, case):
    est, (X, y), task = CASES[case]
    result = run(baseline, case, m=5, seed=3)
    assert isinstance(result, BaselineResult) and result.name == baseline
    assert result.n_points == 5
    assert result.X_poison.shape == (5, X.shape[1]) and result.X_poison.dtype == float
    assert result.y_poison.shape == (5,)
    if task == "classification":
        assert set(result.y_poison) <= set(np.unique(y))
    again = run(baseline, case, m=5, seed=3)
    assert np.array_equal(result.X_poison, again.X_poison)
    assert np.array_equal(result.y_poison, again.y_poison)


@pytest.mark.parametrize("case", CASES)
def test_random_clone_seeds_differ(case):
    a, b = run("random_clone", case, m=8, seed=1), run("random_clone", case, m=8, seed=2)
    assert not np.array_equal(a.source_rows, b.source_rows)


def test_random_clone_keeps_the_response_for_regression():
    _, (X, y), _ = CASES["ridge"]
    result = random_clone(X, y, 20, "regression", random_state=0)
    assert np.array_equal(result.X_poison, X[result.source_rows])
    assert np.array_equal(result.y_poison, y[result.source_rows])


@pytest.mark.parametrize("case", ["binary", "multinomial"])
def test_random_clone_flips_the_label_for_classification(case):
    _, (X, y), _ = CASES[case]
    result = random_clone(X, y, 60, "classification", random_state=0)
    assert np.array_equal(result.X_poison, X[result.source_rows])
    assert np.all(result.y_poison != y[result.source_rows])
    if case == "multinomial":  # K > 2: a random one of the other classes
        for label in np.unique(y):
            new = result.y_poison[y[result.source_rows] == label]
            assert set(new) == set(np.unique(y)) - {label}


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 4),
    m=st.integers(1, 60),
    k=st.integers(2, 4),
    seed=st.integers(0, 2**31),
    task=st.sampled_from(["regression", "classification"]),
)
def test_random_clone_properties(n, d, m, k, seed, task):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n) if task == "regression" else np.arange(n) % min(k, n)
    result = random_clone(X, y, m, task, random_state=seed)
    assert result.X_poison.shape == (m, d) and result.y_poison.shape == (m,)
    assert np.all((0 <= result.source_rows) & (result.source_rows < n))
    assert np.array_equal(result.X_poison, X[result.source_rows])
    source_y = y[result.source_rows]
    if task == "regression":
        assert np.array_equal(result.y_poison, source_y)
    else:
        assert np.all(result.y_poison != source_y)


@pytest.mark.parametrize("case", CASES)
def test_extreme_response_pushes_random_clones_to_the_farther_end(case):
    _, (X, y), task = CASES[case]
    result = extreme_response(X, y, 30, task, random_state=4)
    clones = random_clone(X, y, 30, task, random_state=4)
    assert result.name == "extreme_response" and result.n_points == 30
    assert np.array_equal(result.source_rows, clones.source_rows)  # the same draws
    assert np.array_equal(result.X_poison, X[result.source_rows])
    again = extreme_response(X, y, 30, task, random_state=4)
    assert np.array_equal(result.y_poison, again.y_poison)
    if task == "classification":  # random_clone's flipped labels
        assert np.array_equal(result.y_poison, clones.y_poison)
        return
    own = y[result.source_rows]
    assert np.all((result.y_poison == y.min()) | (result.y_poison == y.max()))
    farther = np.where(own - y.min() > y.max() - own, y.min(), y.max())
    assert np.array_equal(result.y_poison, farther)
    assert np.all(np.abs(result.y_poison - own) >= (y.max() - y.min()) / 2)


def test_label_flip_reflects_the_response_within_the_observed_range():
    est, (X, y), _ = CASES["ridge"]
    result = label_flip(est, X, y, 10, "regression", random_state=0)
    assert np.array_equal(result.X_poison, X[result.source_rows])
    assert np.allclose(result.y_poison, y.max() + y.min() - y[result.source_rows])
    assert np.all((y.min() <= result.y_poison) & (result.y_poison <= y.max()))
    assert len(set(result.source_rows)) == 10


@pytest.mark.parametrize("case", ["binary", "multinomial"])
def test_label_flip_flips_labels(case):
    est, (X, y), _ = CASES[case]
    result = label_flip(est, X, y, 10, "classification", random_state=0)
    assert np.array_equal(result.X_poison, X[result.source_rows])
    assert np.all(result.y_poison != y[result.source_rows])
    if case == "multinomial":  # the least likely other class
        proba = LogisticRegression().fit(X, y).predict_proba(X[result.source_rows])
        proba[np.arange(10), y[result.source_rows]] = np.inf
        assert np.array_equal(result.y_poison, np.argmin(proba, axis=1))


def test_label_flip_picks_the_rows_whose_flip_moves_least_squares_most():
    """For LinearRegression the proxy is exact: an independent oracle refits OLS (in the
    standardised features) with each row's flipped copy added."""
    X, y = make_regression(n=40, d=3, seed=5)
    Z = (X - X.mean(0)) / X.std(0)
    base = sklearn_theta(LinearRegression(), Z, y)
    y_flip = y.max() + y.min() - y
    moved = np.array(
        [
            np.linalg.norm(
                sklearn_theta(LinearRegression(), np.vstack([Z, Z[i]]), np.append(y, y_flip[i]))
                - base
            )
            for i in range(40)
        ]
    )
    result = label_flip(LinearRegression(), X, y, 6, "regression", random_state=0)
    assert set(result.source_rows) == set(np.argsort(-moved)[:6])


@pytest.mark.parametrize("case", CASES)
def test_label_flip_moves_the_model_more_than_random_flipped_clones(case):
    est, (X, y), task = CASES[case]
    theta0 = sklearn_theta(est, X, y)

    def moved(result):
        theta = sklearn_theta(est, np.vstack([X, result.X_poison]), np.append(y, result.y_poison))
        return np.linalg.norm(theta - theta0)

    flipped = moved(label_flip(est, X, y, 5, task, random_state=0))
    if task == "regression":  # random clones with reflected responses

        def clone(seed):
            r = random_clone(X, y, 5, task, random_state=seed)
            return BaselineResult("x", r.X_poison, y.max() + y.min() - r.y_poison)
    else:

        def clone(seed):
            return random_clone(X, y, 5, task, random_state=seed)

    assert flipped > max(moved(clone(seed)) for seed in range(5))


def test_label_flip_cycles_when_the_budget_exceeds_the_rows():
    est, (X, y), _ = CASES["ridge"]
    result = label_flip(est, X, y, 120, "regression", random_state=0)
    assert np.array_equal(result.source_rows[:50], result.source_rows[50:100])
    assert sorted(result.source_rows[:50]) == list(range(50))


@pytest.mark.parametrize("case", CASES)
def test_unconcealed_stays_in_the_data_range_with_alpha_zero(case):
    est, (X, y), task = CASES[case]
    result = run("unconcealed", case, m=4)
    attack = result.attack
    assert np.array_equal(attack.lower, X.min(0))
    assert np.array_equal(attack.upper, X.max(0))
    assert np.all(result.X_poison >= X.min(0)) and np.all(result.X_poison <= X.max(0))
    assert attack.settings["alpha"] == 0.0
    assert attack.settings["optimize_y"] == (task == "regression")
    if task == "regression":
        assert np.all((y.min() <= result.y_poison) & (result.y_poison <= y.max()))


def _effect(est, X, y, result, theta_target):
    theta = sklearn_theta(est, np.vstack([X, result.X_poison]), np.append(y, result.y_poison))
    return float(np.sum((theta - theta_target) ** 2))


@pytest.mark.parametrize("case", CASES)
def test_unconcealed_beats_random_clone_on_integrity(case):
    est, (X, y), task = CASES[case]
    result = unconcealed(est, X, y, 5, Integrity(), random_state=0, max_iter=30)
    theta_t = result.attack.theta_target
    ours = _effect(est, X, y, result, theta_t)
    assert ours == pytest.approx(result.attack.effect_history[-1], rel=1e-5)
    clones = [
        _effect(est, X, y, random_clone(X, y, 5, task, random_state=s), theta_t) for s in range(5)
    ]
    assert ours < min(clones)
    assert ours < result.attack.effect_clean


def test_unconcealed_availability_goal():
    est, (X, y), _ = CASES["ridge"]
    result = unconcealed(est, X, y, 3, Availability(), random_state=0, max_iter=15)
    assert result.attack.goal == "availability"
    assert result.attack.effect_history[-1] > 0


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("m, word", [(0, "m"), (2.5, "m"), (-1, "m"), (True, "m")])
def test_bad_budget_is_refused(baseline, m, word):
    est, (X, y), _ = CASES["ridge"]
    with pytest.raises(InvalidInputError, match=f"^{word}:"):
        if baseline == "random_clone":
            random_clone(X, y, m, "regression")
        elif baseline == "label_flip":
            label_flip(est, X, y, m, "regression")
        else:
            unconcealed(est, X, y, m)


@pytest.mark.parametrize(
    "call, word",
    [
        (
            lambda X, y: random_clone(np.where(np.eye(50, 4) == 1, np.nan, X), y, 3, "regression"),
            "X",
        ),
        (lambda X, y: random_clone(X, y[:-1], 3, "regression"), "y"),
        (lambda X, y: random_clone(X, y, 3, "ranking"), "task"),
        (lambda X, y: random_clone(X, np.zeros(50, int), 3, "classification"), "two classes"),
        (lambda X, y: label_flip(LogisticRegression(), X, y, 3, "regression"), "estimator"),
        (lambda X, y: label_flip(Ridge(), X, y > 0, 3, "classification"), "estimator"),
        (lambda X, y: label_flip("ridge", X, y, 3, "regression"), "estimator"),
        (lambda X, y: label_flip(Ridge(), X[:, 0], y, 3, "regression"), "X"),
        (
            lambda X, y: unconcealed(
                Ridge(), np.column_stack([X, 1 + 1e-15 * np.arange(50)]), y, 3
            ),
            "precision",
        ),
    ],
)
def test_bad_input_is_refused_by_name(call, word):
    _, (X, y), _ = CASES["ridge"]
    with pytest.raises(InvalidInputError, match=word):
        call(X, y)


def test_unconcealed_refuses_an_unsupported_estimator():
    from sklearn.svm import SVR

    _, (X, y), _ = CASES["ridge"]
    with pytest.raises(UnsupportedEstimatorError, match="SVR"):
        unconcealed(SVR(), X, y, 2)


def test_inputs_are_not_mutated():
    est, (X, y), task = CASES["binary"]
    Xc, yc = X.copy(), y.copy()
    for baseline in BASELINES:
        run(baseline, "binary")
    assert np.array_equal(X, Xc) and np.array_equal(y, yc)
