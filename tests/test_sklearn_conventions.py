"""scikit-learn's conventions: clone, get/set_params, pandas in and out, and the
poisoned model as scikit-learn fits it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge

from flexpoison import FlexiblePoisoning, Integrity
from flexpoison.errors import InvalidInputError


@pytest.fixture(scope="module")
def diabetes():
    data = load_diabetes(scaled=False, as_frame=True)
    return data.data, data.target


def test_clone_gives_an_equal_unfitted_copy():
    attack = FlexiblePoisoning(
        Ridge(alpha=2.0), goal=Integrity("negate"), alpha=0.3, n_points=4, starts=2, random_state=7
    )
    copy = clone(attack)
    assert copy is not attack and copy.estimator is not attack.estimator
    assert copy.get_params(deep=False).keys() == attack.get_params(deep=False).keys()
    assert copy.alpha == 0.3 and copy.n_points == 4 and copy.starts == 2
    assert copy.estimator.get_params() == attack.estimator.get_params()
    assert copy.goal == attack.goal


def test_deep_params_reach_the_victim_and_set_params_changes_them():
    attack = FlexiblePoisoning(Ridge(alpha=1.0), n_points=2, random_state=0)
    params = attack.get_params(deep=True)
    assert params["estimator__alpha"] == 1.0 and params["alpha"] == 0.5
    assert attack.set_params(alpha=0.1, estimator__alpha=3.0) is attack
    assert attack.alpha == 0.1 and attack.estimator.alpha == 3.0
    with pytest.raises(InvalidInputError, match="no parameter 'bogus'"):
        attack.set_params(bogus=1)
    with pytest.raises(InvalidInputError, match="no parameter 'goal__x'"):
        attack.set_params(goal__x=1)


def test_a_cloned_attack_crafts_the_same_rows():
    X, y = load_diabetes(return_X_y=True)
    attack = FlexiblePoisoning(Ridge(), n_points=3, max_iter=20, random_state=0)
    a = attack.generate(X, y)
    b = clone(attack).generate(X, y)
    np.testing.assert_array_equal(a.X_poison, b.X_poison)
    np.testing.assert_array_equal(a.y_poison, b.y_poison)


def test_a_dataframe_in_gives_a_dataframe_out(diabetes):
    X, y = diabetes
    result = FlexiblePoisoning(Ridge(), n_points=3, max_iter=20, random_state=0).generate(X, y)
    assert isinstance(result.X_poison, pd.DataFrame)
    assert list(result.X_poison.columns) == list(X.columns)
    assert isinstance(result.y_poison, pd.Series) and result.y_poison.name == y.name
    # the same numbers as with ndarrays
    plain = FlexiblePoisoning(Ridge(), n_points=3, max_iter=20, random_state=0).generate(
        X.to_numpy(), y.to_numpy()
    )
    assert isinstance(plain.X_poison, np.ndarray) and isinstance(plain.y_poison, np.ndarray)
    np.testing.assert_array_equal(result.X_poison.to_numpy(), plain.X_poison)
    np.testing.assert_array_equal(result.y_poison.to_numpy(), plain.y_poison)


def test_the_poisoned_model_is_what_scikit_learn_fits_on_clean_plus_poison(diabetes):
    X, y = diabetes
    victim = Ridge(alpha=1.0)
    result = FlexiblePoisoning(victim, n_points=5, max_iter=30, random_state=0).generate(X, y)
    model = result.poisoned_model()
    assert model is not victim and not hasattr(victim, "coef_")  # a fitted clone
    refit = clone(victim).fit(
        pd.concat([X, result.X_poison], ignore_index=True),
        pd.concat([y, result.y_poison], ignore_index=True),
    )
    np.testing.assert_array_equal(model.coef_, refit.coef_)
    theta = np.append(model.coef_, model.intercept_)
    np.testing.assert_allclose(
        theta, result.theta_poisoned, rtol=1e-6, atol=1e-6 * np.abs(result.theta_poisoned).max()
    )


def test_the_poisoned_classifier_predicts_with_the_user_labels():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)  # so that lbfgs converges at its defaults
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    victim = LogisticRegression(tol=1e-10, max_iter=10_000)  # a tight fit, to compare θ
    result = FlexiblePoisoning(victim, n_points=3, max_iter=20, random_state=0).generate(X, labels)
    model = result.poisoned_model()
    assert set(model.classes_) == set(labels)
    assert set(result.y_poison) <= set(labels)
    theta = np.column_stack([model.coef_, model.intercept_]).ravel()
    np.testing.assert_allclose(theta, result.theta_poisoned, atol=1e-6)


def test_a_result_without_its_victim_says_so():
    X, y = load_diabetes(return_X_y=True)
    result = FlexiblePoisoning(Ridge(), n_points=1, max_iter=5, random_state=0).generate(X, y)
    from dataclasses import replace

    with pytest.raises(InvalidInputError, match="does not carry the victim"):
        replace(result, estimator=None).poisoned_model()


def test_set_params_lets_the_later_budget_win():
    """n_points and rate are exclusive: setting one clears the other, as a
    scikit-learn user expects of clone(...).set_params(...); setting both at once
    keeps both, and generate refuses them."""
    attack = FlexiblePoisoning(Ridge(), rate=0.05, random_state=0)
    by_count = clone(attack).set_params(n_points=5)
    assert (by_count.n_points, by_count.rate) == (5, None)
    by_rate = clone(by_count).set_params(rate=0.1)
    assert (by_rate.n_points, by_rate.rate) == (None, 0.1)
    both = clone(attack).set_params(n_points=5, rate=0.1)
    X = np.random.default_rng(0).standard_normal((30, 3))
    with pytest.raises(InvalidInputError, match="exactly one of n_points and rate"):
        both.generate(X, X[:, 0])
