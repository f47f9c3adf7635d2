"""Constraints as a user states them (flexpoison.attack.specs): bounds by column name or
index, the one parser of the library's dict and the command line's TOML, and integer
features of standardised rows (data_units)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from flexpoison import FlexiblePoisoning, InvalidInputError
from flexpoison.attack.specs import Specs, resolve_bounds
from flexpoison.errors import FlexPoisonWarning

NAMES = ["age", "sex", "bmi"]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    return X.iloc[:120].reset_index(drop=True), y.iloc[:120].reset_index(drop=True)


def _attack(**params):
    settings = {"n_points": 3, "max_iter": 10, "random_state": 0, **params}
    return FlexiblePoisoning(Ridge(), **settings)


def test_bounds_by_name_or_index_become_arrays():
    lower, upper = resolve_bounds({"age": (18, 90), 2: [None, 30.5]}, 3, NAMES)
    assert lower.tolist() == [18.0, -np.inf, -np.inf]
    assert upper.tolist() == [90.0, np.inf, 30.5]
    pair = (np.zeros(3), np.ones(3))
    assert [b.tolist() for b in resolve_bounds(pair, 3)] == [[0.0] * 3, [1.0] * 3]
    assert resolve_bounds(None, 3) is None


@pytest.mark.parametrize(
    "bounds, names, message",
    [
        ({"agee": (1, 2)}, NAMES, "bounds: X has no column named 'agee' (its columns: age,"),
        ({"age": (1, 2)}, None, "bounds: 'age' names a column, but X has no column names"),
        ({5: (1, 2)}, NAMES, "bounds: feature index 5 is out of range (X has 3 features"),
        ({"age": (3,)}, NAMES, "bounds: feature 0 ('age'): expected [lower, upper], two"),
        ({"age": ("a", 2)}, NAMES, "bounds: feature 0 ('age'): expected [lower, upper]"),
        ({"age": (5, 1)}, NAMES, "bounds: feature 0 ('age'): expected lower <= upper"),
        ({"age": (1, 2), 0: (1, 2)}, NAMES, "bounds: feature 0 ('age') is given twice"),
        ({1.5: (1, 2)}, NAMES, "bounds: expected column names or integer indices, got 1.5"),
    ],
)
def test_bad_bounds_are_refused_naming_the_column(bounds, names, message):
    with pytest.raises(InvalidInputError) as caught:
        resolve_bounds(bounds, 3, names)
    assert message in str(caught.value)


def test_a_data_frame_is_bounded_by_column_name(diabetes):
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)
        result = _attack(alpha=0.0, bounds={"age": (30, 60), "bmi": [None, 30]}).generate(X, y)
    assert result.X_poison["age"].between(30, 60).all()
    assert (result.X_poison["bmi"] <= 30).all()
    assert result.settings["bounds"] == {"age": [30.0, 60.0], "bmi": [None, 30.0]}
    with pytest.raises(InvalidInputError, match="bounds: 'age' names a column, but X has no"):
        _attack(bounds={"age": (30, 60)}).generate(X.to_numpy(), y)
    # an integer key indexes the columns, of a plain array too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)
        indexed = _attack(alpha=0.0, bounds={0: (30, 60)}).generate(X.to_numpy(), y)
    assert np.all((indexed.X_poison[:, 0] >= 30) & (indexed.X_poison[:, 0] <= 60))


def test_integer_features_of_standardised_rows_are_integers_of_the_data(diabetes):
    X, y = diabetes
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    units = (scaler.mean_, scaler.scale_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)
        result = _attack(
            integer_features=[0], one_hot_groups=None, frozen_features=[1], data_units=units
        ).generate(Z, y)
    rows = scaler.inverse_transform(result.X_poison)
    np.testing.assert_allclose(rows[:, 0], np.round(rows[:, 0]), atol=1e-9)
    assert not np.allclose(result.X_poison[:, 0], np.round(result.X_poison[:, 0]))
    assert set(np.round(rows[:, 1], 9)) <= set(X["sex"])
    # fractions of the data (not of the standardised rows) are refused
    with pytest.raises(InvalidInputError, match="integer_features: feature 2 holds"):
        _attack(integer_features=[2], data_units=units).generate(Z, y)
    with pytest.raises(InvalidInputError, match="data_units: expected"):
        _attack(integer_features=[0], data_units=(np.zeros(2), np.ones(2))).generate(Z, y)


def test_specs_map_bounds_in_data_units_into_the_attack_space(diabetes):
    X, _ = diabetes
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    names = list(X.columns)
    specs = Specs(bounds={"age": (30, 60)}, within_range=True, integer_features=["age"])
    arguments = specs.attack_arguments(Z, names, scaler)
    lower, upper = arguments["bounds"]
    assert lower[0] == pytest.approx((30 - scaler.mean_[0]) / scaler.scale_[0])
    assert upper[0] == pytest.approx((60 - scaler.mean_[0]) / scaler.scale_[0])
    np.testing.assert_array_equal(lower[1:], Z.min(axis=0)[1:])  # within the range
    assert arguments["integer_features"] == [0] and arguments["data_units"][0] is scaler.mean_
    assert Specs().attack_arguments(Z, names)["bounds"] is None
    assert pd.Series(Specs(bounds={"age": (1, np.inf)}).settings()["bounds"]["age"]).isna()[1]


def test_as_recorded_restores_the_datas_values_and_keeps_the_attacks():
    from flexpoison.attack.specs import as_recorded

    X = np.random.default_rng(0).integers(100, 900, (30, 3)) / 100  # 1.5, 2.25, ...
    X[:, 1] = np.arange(30) % 2
    scaler = StandardScaler().fit(X)
    round_trip = scaler.inverse_transform(scaler.transform(X))
    assert not np.array_equal(round_trip, X)  # the standardisation rounds
    assert np.array_equal(as_recorded(round_trip, X), X)  # a copied row reads as recorded
    chosen = np.array([[1.234567, 0.4, 12.5], [X[0, 0] + 1e-6, 0.9, 35.0]])
    kept = as_recorded(chosen, X)  # the attack's own values are kept, a hair away too
    assert np.array_equal(kept, chosen)
    frozen = as_recorded(chosen, X, frozen=[1])  # a frozen column: its nearest clean value
    assert frozen[:, 1].tolist() == [0.0, 1.0]
    assert np.array_equal(frozen[:, [0, 2]], chosen[:, [0, 2]])
    assert as_recorded(np.empty((0, 3)), X).shape == (0, 3)


def test_a_warning_points_at_the_line_that_called_generate(diabetes):
    """The FlexPoisonWarning a user sees names their own line, not flexpoison's
    internals (generate runs inside a BLAS-thread wrapper)."""
    X, y = diabetes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _attack(alpha=0.0).generate(X, y)
    raised = [w for w in caught if issubclass(w.category, FlexPoisonWarning)]
    assert raised and {w.filename for w in raised} == {__file__}
