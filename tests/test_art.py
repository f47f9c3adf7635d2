"""The ART adapter (flexpoison.art) against the real Adversarial Robustness Toolbox."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

from flexpoison import (
    Availability,
    FlexiblePoisoning,
    FlexPoisonError,
    LossAvailability,
    models,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # ART: "PyTorch not found"
    art = pytest.importorskip("art")
    from art.attacks.attack import PoisoningAttackWhiteBox
    from art.defences.preprocessor import FeatureSqueezing
    from art.estimators.classification import SklearnClassifier
    from art.estimators.classification.scikitlearn import ScikitlearnClassifier
    from art.estimators.regression import ScikitlearnRegressor

from flexpoison.art import FlexiblePoisoningAttack  # noqa: E402

FAST = dict(n_points=3, max_iter=15, random_state=0, verbose=False)
DIRECT = dict(n_points=3, max_iter=15, random_state=0)


def _iris():
    X, labels = load_iris(return_X_y=True)
    return X.astype(np.float32), labels


def _logistic():
    return LogisticRegression(C=1.0, max_iter=10_000)


def _binary():
    """Iris versicolor vs virginica (not separable): 100 rows, 4 features."""
    x, labels = _iris()
    keep = labels > 0
    return x[keep], labels[keep]


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X[:120].astype(np.float32), y[:120].astype(np.float32)


# ------------------------------------------------------------------- packaging


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_flexpoison_does_not_import_art():
    done = _run(
        "import sys, flexpoison; flexpoison.FlexiblePoisoning; "
        "import flexpoison.attack.algorithm, flexpoison.models; "
        "sys.exit('art' in sys.modules and 'imported art')"
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_import_without_art_says_how_to_install_it():
    done = _run("import sys; sys.modules['art'] = None; import flexpoison.art")
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "pip install flexpoison[art]" in done.stderr


def test_is_an_art_white_box_poisoning_attack():
    attack = FlexiblePoisoningAttack(SklearnClassifier(_logistic()), **FAST)
    assert isinstance(attack, PoisoningAttackWhiteBox)
    assert {"alpha", "n_points", "rate", "goal", "n_sigma", "random_state"} <= set(
        attack.attack_params
    )
    attack.set_params(alpha=0.25, max_iter=5)
    assert attack.alpha == 0.25 and "alpha=0.25" in repr(attack)
    with pytest.raises(ValueError, match="cannot be set"):
        attack.set_params(box=(0, 1))


# ---------------------------------------------------------- same rows as flexpoison


def test_one_hot_labels_give_flexpoisons_rows_and_one_hot_back():
    x, labels = _iris()
    y = np.eye(3, dtype=np.float32)[labels]
    classifier = SklearnClassifier(_logistic(), clip_values=(0.0, 8.0))
    x_poison, y_poison = FlexiblePoisoningAttack(classifier, alpha=0.5, **FAST).poison(x, y)
    direct = FlexiblePoisoning(
        _logistic(), alpha=0.5, bounds=(np.zeros(4), np.full(4, 8.0)), **DIRECT
    ).generate(x, labels)
    np.testing.assert_array_equal(x_poison, direct.X_poison)
    assert x_poison.dtype == np.float32
    assert y_poison.shape == (3, 3) and y_poison.dtype == np.float32
    assert np.all(y_poison.sum(axis=1) == 1)
    np.testing.assert_array_equal(np.argmax(y_poison, axis=1), direct.y_poison)


@pytest.mark.parametrize("column", [False, True], ids=["(n,)", "(n,1)"])
def test_index_labels_give_the_same_rows_and_index_labels_back(column):
    x, labels = _binary()
    y = labels[:, None] if column else labels
    attack = FlexiblePoisoningAttack(SklearnClassifier(_logistic()), **FAST)
    x_poison, y_poison = attack.poison(x, y)
    direct = FlexiblePoisoning(_logistic(), **DIRECT).generate(x, labels)
    np.testing.assert_array_equal(x_poison, direct.X_poison)
    assert y_poison.shape == ((3, 1) if column else (3,)) and y_poison.dtype == labels.dtype
    np.testing.assert_array_equal(y_poison.ravel(), direct.y_poison)
    # the one-hot encoding of the same labels gives the same attack
    one_hot = np.eye(3, dtype=np.float32)[labels][:, 1:]
    x_again, y_again = attack.poison(x, one_hot)
    np.testing.assert_array_equal(x_again, x_poison)
    np.testing.assert_array_equal(np.argmax(y_again, axis=1) + 1, direct.y_poison)


def test_float64_data_are_attacked_as_arts_fit_sees_them():
    """ART's default preprocessing casts to float32 before scikit-learn fits: the
    attack runs on those values and hands the rows back as float64."""
    x, labels = _binary()
    x64 = x.astype(np.float64) + 1e-9  # not float32 values
    x_poison, _ = FlexiblePoisoningAttack(SklearnClassifier(_logistic()), **FAST).poison(
        x64, labels
    )
    direct = FlexiblePoisoning(_logistic(), **DIRECT).generate(x64.astype(np.float32), labels)
    assert x_poison.dtype == np.float64
    np.testing.assert_array_equal(x_poison, direct.X_poison)


@pytest.mark.parametrize("column", [False, True], ids=["(n,)", "(n,1)"])
def test_ridge_in_scikitlearn_regressor(column):
    x, y = _diabetes()
    regressor = ScikitlearnRegressor(Ridge(alpha=1.0))
    attack = FlexiblePoisoningAttack(regressor, goal="availability", alpha=0.0, **FAST)
    x_poison, y_poison = attack.poison(x, y[:, None] if column else y)
    direct = FlexiblePoisoning(Ridge(alpha=1.0), goal=Availability(), alpha=0.0, **DIRECT).generate(
        x, y
    )
    np.testing.assert_array_equal(x_poison, direct.X_poison)
    assert y_poison.shape == ((3, 1) if column else (3,)) and y_poison.dtype == np.float32
    np.testing.assert_array_equal(y_poison.ravel(), direct.y_poison.astype(np.float32))
    assert attack.result is not None and attack.result.progress > 0


# ------------------------------------------------------------------ the outcome


def test_the_poison_moves_the_model_art_fits():
    x, labels = _binary()
    x = x.astype(np.float64)
    # float64 (no float32 preprocessing) and a solver run to machine precision, so that
    # ART's fit reproduces flexpoison's θ
    tight = models.get("logistic").tight_clone(_logistic())
    classifier = SklearnClassifier(tight, preprocessing=None)
    attack = FlexiblePoisoningAttack(classifier, alpha=0.0, **{**FAST, "n_points": 5})
    y = np.eye(2, dtype=np.float32)[labels - 1]
    x_poison, y_poison = attack.poison(x, y)
    result = attack.result
    assert result is not None and result.progress > 0.05, result.progress
    classifier.fit(x, y)
    before = models.theta_of(classifier.model)
    classifier.fit(np.vstack([x, x_poison]), np.vstack([y, y_poison]))
    after = models.theta_of(classifier.model)
    target = result.theta_target
    np.testing.assert_allclose(before, result.theta_clean, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(after, result.theta_poisoned, rtol=1e-7, atol=1e-8)
    assert np.linalg.norm(after - target) < np.linalg.norm(before - target)


# ---------------------------------------------------------------- clip values


def test_clip_values_bound_the_rows():
    x, labels = _iris()
    lower, upper = np.array([4.5, 2.5, 1.0, 0.1]), np.array([6.0, 3.5, 5.0, 1.5])
    classifier = SklearnClassifier(_logistic(), clip_values=(lower, upper))
    attack = FlexiblePoisoningAttack(classifier, alpha=0.0, **FAST)
    x_poison, _ = attack.poison(x, labels)
    assert np.all(x_poison >= lower.astype(np.float32))
    assert np.all(x_poison <= upper.astype(np.float32))
    assert np.any(np.isclose(x_poison, lower) | np.isclose(x_poison, upper))  # they bind
    direct = FlexiblePoisoning(_logistic(), alpha=0.0, bounds=(lower, upper), **DIRECT)
    np.testing.assert_array_equal(x_poison, direct.generate(x, labels).X_poison)


def test_without_a_sigma_box_clip_values_are_the_box():
    x, labels = _binary()
    classifier = SklearnClassifier(_logistic(), clip_values=(0.0, 8.0))
    attack = FlexiblePoisoningAttack(classifier, n_sigma=None, **FAST)
    x_poison, _ = attack.poison(x, labels)
    assert np.all((x_poison >= 0) & (x_poison <= 8))
    np.testing.assert_array_equal(attack.result.lower, 0.0)
    np.testing.assert_array_equal(attack.result.upper, 8.0)
    with pytest.raises(ValueError, match="clip_values"):
        FlexiblePoisoningAttack(SklearnClassifier(_logistic()), n_sigma=None, n_points=1)


# -------------------------------------------------------------- preprocessing


def test_standardisation_is_attacked_through_and_mapped_back():
    x, labels = _binary()
    mean, std = x.mean(axis=0), x.std(axis=0)
    classifier = SklearnClassifier(_logistic(), clip_values=(0.0, 7.5), preprocessing=(mean, std))
    attack = FlexiblePoisoningAttack(classifier, alpha=0.0, **FAST)
    x_poison, _ = attack.poison(x, labels)
    z = ((x - mean) / std).astype(np.float32)  # what the wrapper's fit hands scikit-learn
    bounds = ((0.0 - mean) / std, (7.5 - mean) / std)
    direct = FlexiblePoisoning(
        _logistic(), alpha=0.0, bounds=tuple(np.asarray(b, float) for b in bounds), **DIRECT
    ).generate(z, labels)
    np.testing.assert_array_equal(attack.result.X_poison, direct.X_poison)
    assert x_poison.dtype == np.float32 and np.all((x_poison >= 0) & (x_poison <= 7.5))
    z_again = classifier._apply_preprocessing(x_poison, None, fit=True)[0]
    np.testing.assert_allclose(z_again, direct.X_poison, atol=1e-5)


def test_a_loss_goals_evaluation_rows_go_through_the_same_standardisation():
    x, y = _diabetes()
    mean, std = x.mean(axis=0), x.std(axis=0)
    regressor = ScikitlearnRegressor(Ridge(alpha=1.0), preprocessing=(mean, std))
    x_eval, y_eval = x[:40], y[:40]
    goal = LossAvailability(X_eval=x_eval, y_eval=y_eval[:, None])
    attack = FlexiblePoisoningAttack(regressor, goal=goal, alpha=0.0, **FAST)
    attack.poison(x, y)
    z, z_eval = (((a - mean) / std).astype(np.float32) for a in (x, x_eval))
    direct = FlexiblePoisoning(
        Ridge(alpha=1.0), goal=LossAvailability(X_eval=z_eval, y_eval=y_eval), alpha=0.0, **DIRECT
    ).generate(z, y)
    np.testing.assert_array_equal(attack.result.X_poison, direct.X_poison)
    assert attack.result.progress > 0


def test_a_defence_applied_at_fit_is_refused_by_name():
    squeeze = FeatureSqueezing(clip_values=(0.0, 8.0), bit_depth=8, apply_fit=True)
    classifier = SklearnClassifier(_logistic(), preprocessing_defences=squeeze)
    with pytest.raises(ValueError, match="FeatureSqueezing"):
        FlexiblePoisoningAttack(classifier, n_points=1)


def test_a_defence_applied_only_at_prediction_is_ignored():
    x, labels = _binary()
    squeeze = FeatureSqueezing(clip_values=(0.0, 8.0), bit_depth=8, apply_fit=False)
    classifier = SklearnClassifier(_logistic(), preprocessing_defences=squeeze)
    x_poison, _ = FlexiblePoisoningAttack(classifier, **FAST).poison(x, labels)
    direct = FlexiblePoisoning(_logistic(), **DIRECT).generate(x, labels)
    np.testing.assert_array_equal(x_poison, direct.X_poison)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "params, word",
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": "half"}, "alpha"),
        ({"n_points": 0}, "n_points"),
        ({"n_points": -2}, "n_points"),
        ({"n_points": 2.5}, "n_points"),
        ({"n_points": None, "rate": 0.0}, "rate"),
        ({"n_points": None, "rate": 1.5}, "rate"),
        ({"n_points": 2, "rate": 0.1}, "exactly one"),
        ({"n_points": None}, "exactly one"),
        ({"starts": 0}, "starts"),
        ({"passes": 0}, "passes"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": 0.0}, "tol"),
        ({"n_sigma": 0.0}, "n_sigma"),
        ({"n_sigma": -3.0}, "n_sigma"),
        ({"step": "newton"}, "step"),
        ({"trade_off": "both"}, "trade_off"),
        ({"goal": "chaos"}, "goal"),
        ({"random_state": -1}, "random_state"),
        ({"verbose": "yes"}, "verbose"),
        ({"optimize_y": True}, "optimize_y"),
    ],
)
def test_bad_parameters_raise_value_error(params, word):
    with pytest.raises(ValueError, match=word):
        FlexiblePoisoningAttack(SklearnClassifier(_logistic()), **{"n_points": 1, **params})


def test_set_params_checks_too():
    attack = FlexiblePoisoningAttack(SklearnClassifier(_logistic()), n_points=1)
    with pytest.raises(ValueError, match="alpha"):
        attack.set_params(alpha=2.0)


def test_an_unsupported_model_is_refused_by_name():
    classifier = SklearnClassifier(DecisionTreeClassifier())
    assert isinstance(classifier, ScikitlearnClassifier)
    with pytest.raises(ValueError, match="DecisionTreeClassifier"):
        FlexiblePoisoningAttack(classifier, n_points=1)


def test_a_model_in_the_wrong_wrapper_or_with_a_refused_setting_is_refused():
    with pytest.raises(ValueError, match="ScikitlearnRegressor"):
        FlexiblePoisoningAttack(ScikitlearnClassifier(Ridge()), n_points=1)
    with pytest.raises(ValueError, match="SklearnClassifier"):
        FlexiblePoisoningAttack(ScikitlearnRegressor(_logistic()), n_points=1)
    balanced = LogisticRegression(class_weight="balanced")
    with pytest.raises(ValueError, match="class_weight"):
        FlexiblePoisoningAttack(SklearnClassifier(balanced), n_points=1)


def test_bad_labels_and_arguments_raise_value_error():
    x, labels = _iris()
    attack = FlexiblePoisoningAttack(SklearnClassifier(_logistic()), **FAST)
    with pytest.raises(ValueError, match="labels are required"):
        attack.poison(x)
    with pytest.raises(ValueError, match="one-hot"):
        attack.poison(x, np.full((len(x), 3), 1 / 3))
    with pytest.raises(ValueError, match="rows like x"):
        attack.poison(x, labels[:-1])
    with pytest.raises(ValueError, match="unexpected keyword"):
        attack.poison(x, labels, n_points=2)
    with pytest.raises(ValueError, match="x: expected shape"):
        attack.poison(x[:, :, None], labels)
    with pytest.raises(ValueError, match="n_points"):  # more poison than clean rows
        FlexiblePoisoningAttack(SklearnClassifier(_logistic()), n_points=500).poison(x, labels)
    fitted = SklearnClassifier(_logistic())
    fitted.fit(x, np.eye(3)[labels])
    with pytest.raises(ValueError, match="nb_classes=3"):
        FlexiblePoisoningAttack(fitted, **FAST).poison(x, np.eye(4)[labels])


def test_flexpoison_errors_stay_value_errors():
    with pytest.raises(ValueError, match="n_sigma") as caught:  # refused by name
        FlexiblePoisoningAttack(SklearnClassifier(_logistic()), **(FAST | dict(n_sigma=-1.0)))
    assert isinstance(caught.value, FlexPoisonError)


# ------------------------------------------------------------ feature constraints


def _raw_diabetes():
    """120 rows of diabetes in its recorded units: age (integers), sex (1 or 2), ..."""
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return X[:120].astype(np.float32), y[:120].astype(np.float32)


CONSTRAINED = dict(bounds={0: (30, 60), 2: (None, 30)}, integer_features=[0], frozen_features=[1])


def test_bounds_and_feature_constraints_are_flexpoisons():
    x, y = _raw_diabetes()
    regressor = ScikitlearnRegressor(Ridge(), clip_values=(0.0, 400.0))
    attack = FlexiblePoisoningAttack(regressor, alpha=0.0, **CONSTRAINED, **FAST)
    x_poison, _ = attack.poison(x, y)
    assert np.all((x_poison[:, 0] >= 30) & (x_poison[:, 0] <= 60))
    assert np.all(x_poison[:, 0] == np.round(x_poison[:, 0])) and np.all(x_poison[:, 2] <= 30)
    assert set(x_poison[:, 1]) <= set(x[:, 1])
    bounds = (np.array([30.0, 0, 0] + [0] * 7), np.array([60.0, 400, 30] + [400] * 7))
    direct = FlexiblePoisoning(
        Ridge(), alpha=0.0, bounds=bounds, integer_features=[0], frozen_features=[1], **DIRECT
    )
    np.testing.assert_array_equal(x_poison, direct.generate(x, y).X_poison)
    assert "integer_features" in attack.attack_params and attack.integer_features == [0]


def test_integer_columns_are_integers_of_x_through_a_standardisation():
    x, y = _raw_diabetes()
    regressor = ScikitlearnRegressor(Ridge(), preprocessing=(x.mean(axis=0), x.std(axis=0)))
    attack = FlexiblePoisoningAttack(regressor, **CONSTRAINED, **FAST)
    x_poison, _ = attack.poison(x, y)
    assert np.all(x_poison[:, 0] == np.round(x_poison[:, 0]))
    assert np.all((x_poison[:, 0] >= 30) & (x_poison[:, 0] <= 60))
    assert set(np.round(x_poison[:, 1], 4)) <= {1.0, 2.0}  # frozen, through float32


@pytest.mark.parametrize(
    "params, argument",
    [
        (dict(bounds={"age": (30, 60)}), "bounds"),
        (dict(integer_features=[0, "age"]), "integer_features"),
        (dict(frozen_features=["age"]), "frozen_features"),
        (dict(one_hot_groups=[[0, "age"]]), "one_hot_groups"),
    ],
)
def test_constraints_by_name_are_refused_for_arrays_without_names(params, argument):
    """ART's x has no column names: refused when the attack is built, saying to name
    features by index (not 'give a DataFrame', which ART does not pass on)."""
    with pytest.raises(
        ValueError,
        match=rf"^{argument}: 'age' names a column, but ART's x is "
        r"an array without column names; name features by 0-based index",
    ):
        FlexiblePoisoningAttack(ScikitlearnRegressor(Ridge()), **params, **FAST)


def test_a_fraction_in_an_integer_column_is_refused_at_poison():
    x, y = _raw_diabetes()
    attack = FlexiblePoisoningAttack(ScikitlearnRegressor(Ridge()), **FAST)
    attack.set_params(integer_features=[2])
    with pytest.raises(ValueError, match=r"integer_features: feature 2 holds"):
        attack.poison(x, y)
