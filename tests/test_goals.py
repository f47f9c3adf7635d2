"""Target presets are deterministic, documented functions of θ₀."""

from __future__ import annotations

import numpy as np
import pytest

from flexpoison import Availability, Integrity, models
from flexpoison.attack.goals import ModelShape

LOGISTIC = models.get("logistic")
REG = ModelShape(3, 1, True, "regression", None, models.get("ridge").target_preset(1))
BIN = ModelShape(3, 1, True, "classification", (0, 1), LOGISTIC.target_preset(1))
MULTI = ModelShape(2, 3, True, "classification", ("a", "b", "c"), LOGISTIC.target_preset(3))


def test_flip_top_flips_the_largest_weight_not_the_intercept():
    theta0 = np.array([0.5, -2.0, 1.0, 10.0])
    assert np.array_equal(Integrity("flip-top").reference(theta0, REG), [0.5, 2.0, 1.0, 10.0])
    assert np.array_equal(Integrity().reference(theta0, REG), [0.5, 2.0, 1.0, 10.0])


def test_negate_keeps_the_intercept_and_is_the_binary_default():
    theta0 = np.array([0.5, -2.0, 1.0, 3.0])
    expected = [-0.5, 2.0, -1.0, 3.0]
    assert np.array_equal(Integrity("negate").reference(theta0, BIN), expected)
    assert np.array_equal(Integrity().reference(theta0, BIN), expected)


def test_swap_named_and_default_closest_rows():
    theta0 = np.array([[1.0, 0.0, 0.0], [5.0, 5.0, 1.0], [5.5, 5.0, 1.0]]).ravel()
    swapped = Integrity("swap:a,c").reference(theta0, MULTI).reshape(3, 3)
    assert np.array_equal(swapped, theta0.reshape(3, 3)[[2, 1, 0]])
    default = Integrity().reference(theta0, MULTI).reshape(3, 3)
    assert np.array_equal(default, theta0.reshape(3, 3)[[0, 2, 1]])
    with pytest.raises(ValueError, match="names a class that is not among"):
        Integrity("swap:a,z").reference(theta0, MULTI)


def test_predict_is_the_nearest_theta_with_the_requested_prediction():
    theta0 = np.array([1.0, 2.0, -1.0, 0.5])
    x_star = np.array([1.0, 0.5, 2.0])
    theta_t = Integrity("predict:7@1,0.5,2").reference(theta0, REG)
    phi = np.append(x_star, 1.0)
    assert phi @ theta_t == pytest.approx(7.0)
    # nearest: θ_t − θ₀ is parallel to φ*
    delta = theta_t - theta0
    assert np.allclose(delta, (delta @ phi) / (phi @ phi) * phi)


def test_explicit_vector_and_availability_reference():
    theta0 = np.arange(4.0)
    assert np.array_equal(Integrity([1, 2, 3, 4]).reference(theta0, REG), [1, 2, 3, 4])
    assert np.array_equal(Availability().reference(theta0, REG), theta0)


# ------------------------------------------------------------- flip-subpopulation


def _cancer(n=120):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = X[:n, :5]
    return (X - X.mean(axis=0)) / X.std(axis=0), y[:n]


def _target(estimator, X, y, target):
    from flexpoison import FlexiblePoisoning

    attack = FlexiblePoisoning(estimator, goal=Integrity(target), alpha=0.0, random_state=0)
    return np.asarray(attack.objective(X, y).theta_reference)


def _refit_flipped(estimator, X, y, mask, to=None):
    from flexpoison.models.victim import theta_of

    y_new = y.copy()
    y_new[mask] = (1 - y[mask]) if to is None else to
    spec = models.spec_for(estimator)
    return theta_of(spec.fit_tight(estimator, X, y_new))


@pytest.mark.parametrize("make", ["logistic", "linearsvc"])
def test_flip_subpopulation_cluster_is_the_refit_on_flipped_labels(make):
    from flexpoison.attack.subpopulation import Subpopulation

    X, y = _cancer()
    estimator = models.get(make).make()
    target = "flip-subpopulation:class=1,cluster=1/4"
    theta_t = _target(estimator, X, y, target)
    mask = Subpopulation.parse(target).rows(X, y, None, ["0", "1"])
    assert 0 < mask.sum() < (y == 1).sum() and np.all(y[mask] == 1)
    np.testing.assert_allclose(theta_t, _refit_flipped(estimator, X, y, mask), atol=1e-6)
    assert np.array_equal(theta_t, _target(estimator, X, y, target))  # deterministic


def test_flip_subpopulation_clusters_are_numbered_by_size():
    from flexpoison.attack.subpopulation import Subpopulation

    X, y = _cancer()
    sizes = [
        Subpopulation.parse(f"flip-subpopulation:cluster={c}/5").rows(X, y, None, ["0", "1"]).sum()
        for c in range(5)
    ]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == len(y)


def test_flip_subpopulation_feature_condition_by_name_and_index():
    import pandas as pd

    X, y = _cancer()
    estimator = models.get("logistic").make()
    mask = (X[:, 2] < 0.5) & (X[:, 0] >= -1)
    expected = _refit_flipped(estimator, X, y, mask)
    np.testing.assert_allclose(
        _target(estimator, X, y, "flip-subpopulation:x2<0.5, x0>=-1"), expected, atol=1e-6
    )
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    np.testing.assert_allclose(
        _target(estimator, frame, y, "flip-subpopulation:c < 0.5,a>=-1"), expected, atol=1e-6
    )


def test_flip_subpopulation_condition_on_a_column_named_like_a_keyword():
    import pandas as pd

    from flexpoison.attack.subpopulation import Subpopulation

    X, y = _cancer()
    X[:, 1] = np.round(X[:, 1])
    frame = pd.DataFrame(X, columns=["a", "class", "c", "d", "e"])
    spec = Subpopulation.parse("flip-subpopulation:class==0,class=1")
    assert spec.label == "1" and spec.conditions == (("class", "==", 0.0),)
    mask = spec.rows(X, y, list(frame.columns), ["0", "1"])
    assert np.array_equal(mask, (X[:, 1] == 0) & (y == 1)) and mask.any()


def test_flip_subpopulation_multiclass_needs_to():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    estimator = models.get("logistic").make()
    with pytest.raises(ValueError, match="say which label the rows get"):
        _target(estimator, X, y, "flip-subpopulation:class=1,x0<6")
    theta_t = _target(estimator, X, y, "flip-subpopulation:class=1,x0<6,to=2")
    mask = (y == 1) & (X[:, 0] < 6)
    np.testing.assert_allclose(theta_t, _refit_flipped(estimator, X, y, mask, to=2), atol=1e-5)


@pytest.mark.parametrize(
    "target, message",
    [
        ("flip-subpopulation:", "names no rows"),
        ("flip-subpopulation:cluster=8/8", "must be C/K"),
        ("flip-subpopulation:cluster=2", "must be C/K"),
        ("flip-subpopulation:class=7", "is not among the labels"),
        ("flip-subpopulation:x9<1", "no feature 'x9'"),
        ("flip-subpopulation:x0<abc", "not a number"),
        ("flip-subpopulation:x0~1", "cannot read the term"),
        ("flip-subpopulation:x0>100", "selects no training row"),
        ("flip-subpopulation:class=1", "leaves a class with no row"),
        ("flip-subpopulation:class=1,to=5", "is not among the labels"),
    ],
)
def test_flip_subpopulation_refuses_malformed_targets(target, message):
    X, y = _cancer()
    with pytest.raises(ValueError, match=message):
        _target(models.get("logistic").make(), X, y, target)


def test_flip_subpopulation_refuses_regression_and_theta_only_use():
    X, y = _cancer()
    with pytest.raises(ValueError, match="a regression has none"):
        _target(models.get("ridge").make(), X, y.astype(float), "flip-subpopulation:x0<0")
    with pytest.raises(ValueError, match="defined by the training rows"):
        Integrity("flip-subpopulation:x0<0").reference(np.ones(4), BIN)


def test_the_attack_moves_toward_a_subpopulation_target():
    from flexpoison import FlexiblePoisoning

    X, y = _cancer()
    goal = Integrity("flip-subpopulation:class=1,cluster=0/4")
    attack = FlexiblePoisoning(
        models.get("logistic").make(), goal=goal, alpha=0.0, n_points=8, random_state=0
    )
    result = attack.generate(X, y)
    assert result.effect_history[-1] < 0.8 * result.effect_clean


def test_csv_names_and_units_map_to_the_attack_columns():
    from sklearn.preprocessing import StandardScaler

    from flexpoison.attack.subpopulation import Subpopulation, in_attack_units

    X, y = _cancer()
    X = X * [1, 10, 100, 1, 1] + [0, 50, 1000, 0, 0]
    scaler = StandardScaler().fit(X)
    target = "flip-subpopulation:class=1,c<1000,b<=55,cluster=1/3,to=0"
    mapped = in_attack_units(target, ["a", "b", "c", "d", "e"], scaler.transform)
    assert mapped.startswith("flip-subpopulation:class=1,x2<") and mapped.endswith("to=0")
    Z = scaler.transform(X)
    names = ["a", "b", "c", "d", "e"]
    expected = Subpopulation.parse(target).rows(X, y, names, ["0", "1"])
    assert expected.sum() > 3
    assert np.array_equal(Subpopulation.parse(mapped).rows(Z, y, None, ["0", "1"]), expected)


@pytest.mark.parametrize("target", ["class=1,cluster=0/3", "a<0.3"])
def test_cli_target_accepts_flip_subpopulation(tmp_path, target):
    import json

    from click.testing import CliRunner

    from flexpoison.cli import main

    X, y = _cancer(80)
    path = tmp_path / "data.csv"
    np.savetxt(
        path,
        np.column_stack([X, y]),
        delimiter=",",
        header="a,b,c,d,e,label",
        comments="",
        fmt="%.10g",
    )
    out = tmp_path / "run"
    args = [
        "attack",
        "--data",
        path,
        "--target-column",
        "label",
        "--model",
        "logistic",
        "--alpha",
        0,
        "--goal",
        "integrity",
        "--target",
        "flip-subpopulation:class=1,cluster=0/3",
        "--n-points",
        3,
        "--out",
        out,
    ]
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["theta_target"] != summary["theta_clean"]
